import type { Mail } from './mailer.js'

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`)

/** A mail of a few sentences and one link, in plain text and in HTML. */
function mail(to: string, subject: string, lines: string[], link: string): Mail {
  const text = [...lines.slice(0, 1), '', link, '', ...lines.slice(1)].join('\n')
  const paragraphs = lines.map((line) => `<p>${escapeHtml(line)}</p>`)
  const html = [paragraphs[0], `<p><a href="${escapeHtml(link)}">${escapeHtml(link)}</a></p>`, ...paragraphs.slice(1)].join('\n')
  return { to, subject, text, html }
}

/** How long a link works, as the mail says it. */
const lifetime = (seconds: number): string => (seconds % 3600 === 0 ? `${seconds / 3600} hour${seconds === 3600 ? '' : 's'}` : `${Math.round(seconds / 60)} minutes`)

export function passwordResetMail(to: string, appUrl: string, token: string, ttlSeconds: number): Mail {
  return mail(
    to,
    'Reset your password',
    [
      'Someone, hopefully you, asked to reset the password of this account. To choose a new one, open this link:',
      `It works once, for ${lifetime(ttlSeconds)}. Every session of the account ends when the password is reset.`,
      'If you did not ask for this, ignore this mail: your password stays as it is.'
    ],
    `${appUrl}/reset-password?token=${token}`
  )
}

export function verificationMail(to: string, appUrl: string, token: string, ttlSeconds: number): Mail {
  return mail(
    to,
    'Confirm your email address',
    ['To confirm that this address is yours, open this link:', `It works once, for ${lifetime(ttlSeconds)}.`, 'If you did not create an account, ignore this mail.'],
    `${appUrl}/verify-email?token=${token}`
  )
}
