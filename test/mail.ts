/**
 * A real SMTP server for the mail tests (smtp-server, on a free loopback port), which parses every mail it
 * receives (mailparser). It requires a login, so that a test also proves that SMTP_URL's credentials are used.
 */
import { simpleParser, type ParsedMail } from 'mailparser'
import { SMTPServer } from 'smtp-server'
import type { TestContext } from './helper.js'

const USER = 'mailer'
const PASSWORD = 'smtp secret'

/** The paths of the service's links: a password reset's, an email verification's. */
export type MailLink = '/reset-password' | '/verify-email'

export class MailCatcher {
  readonly mails: ParsedMail[] = []
  private waiting: (() => void)[] = []

  /** smtp://user:password@127.0.0.1:<port>, once listening. */
  url = ''

  static async start(t: TestContext): Promise<MailCatcher> {
    const catcher = new MailCatcher()
    const server = new SMTPServer({
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true,
      logger: false,
      onAuth(auth, _session, callback) {
        if (auth.username === USER && auth.password === PASSWORD) return callback(null, { user: USER })
        callback(new Error('invalid credentials'))
      },
      onData(stream, _session, callback) {
        simpleParser(stream).then(
          (mail) => {
            catcher.received(mail)
            callback()
          },
          (error: Error) => callback(error)
        )
      }
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => resolve())
    })
    const { port } = server.server.address() as { port: number }
    catcher.url = `smtp://${USER}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}`
    t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
    return catcher
  }

  /** The SMTP URL with a wrong password: the server refuses every mail. */
  get urlWithWrongPassword(): string {
    return this.url.replace(encodeURIComponent(PASSWORD), 'wrong')
  }

  private received(mail: ParsedMail): void {
    this.mails.push(mail)
    for (const wake of this.waiting.splice(0)) wake()
  }

  /** The mails sent to an address so far; with `link`, only those whose link is to that path. */
  to(address: string, link?: MailLink): MailCatcher['mails'] {
    return this.mails.filter((mail) => recipients(mail).includes(address.toLowerCase()) && (link === undefined || (mail.text ?? '').includes(`${link}?token=`)))
  }

  /**
   * Waits until `count` mails with a link to `link` (one more than now by default) were sent to the address; the last
   * of them. The wait is generous: the service sends after its answer, through its store and SMTP, and a loaded CI
   * machine once took more than 10 s over it. A mail that never comes fails all the same.
   */
  async next(address: string, link: MailLink, count = this.to(address, link).length + 1, timeoutMs = 20_000): Promise<ParsedMail> {
    const deadline = performance.now() + timeoutMs
    while (this.to(address, link).length < count) {
      const left = deadline - performance.now()
      if (left <= 0) throw new Error(`no ${link} mail to ${address} within ${timeoutMs} ms (${this.to(address, link).length} of ${count})`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiting.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
    return this.to(address, link)[count - 1]!
  }
}

function recipients(mail: ParsedMail): string[] {
  const to = Array.isArray(mail.to) ? mail.to : mail.to === undefined ? [] : [mail.to]
  return to.flatMap((field) => field.value.map((entry) => (entry.address ?? '').toLowerCase()))
}

/** The token of the mail's link to `${appUrl}${path}?token=…`, as a user's click would hand it to the app. */
export function linkToken(mail: ParsedMail, appUrl: string, path: MailLink): string {
  const prefix = `${appUrl}${path}?token=`
  const link = mail.text?.split(/\s+/).find((word) => word.startsWith(prefix))
  if (link === undefined) throw new Error(`no ${prefix}… link in the mail: ${mail.text}`)
  return new URL(link).searchParams.get('token')!
}
