/**
 * A store URL as it may be logged: no password, in the user-info or in the query (libpq reads
 * `?password=`). The user name stays: it helps an operator and grants nothing.
 */
export function withoutPassword(text: string): string {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    // Not parseable: nothing of it can be shown safely.
    return '[unparseable URL]'
  }
  if (url.password !== '') url.password = 'redacted'
  for (const name of [...url.searchParams.keys()]) {
    if (/pass|secret/i.test(name)) url.searchParams.set(name, 'redacted')
  }
  return url.toString()
}
