import nodemailer, { type Transporter } from 'nodemailer'
import type { Config } from '../config.js'
import { ServiceError } from '../errors.js'
import { withoutPassword } from '../settings/urls.js'

/** A mail as the service writes it: short, plain text and the same in HTML. */
export interface Mail {
  to: string
  subject: string
  text: string
  html: string
}

export interface Mailer {
  /**
   * `smtp`: sent through SMTP_URL. `log`: development without SMTP_URL, the mail (its link included) goes to
   * the log instead. `off`: production without SMTP_URL; the mail endpoints answer 503 MAIL_UNAVAILABLE.
   */
  readonly mode: 'smtp' | 'log' | 'off'
  /** What the start-up line shows: the transport without its password, or why there is none. */
  readonly description: string
  /** Throws MAIL_UNAVAILABLE (503) when the service sends no mail: called before anything else is done. */
  assertAvailable(): void
  /**
   * Sends, or logs in development. Never throws: a mail that cannot be sent is logged with its cause, and
   * never with its text (which holds a token); the answer to the request that caused it does not change.
   */
  send(mail: Mail, purpose: string): Promise<void>
  close(): void
}

interface Log {
  info(details: object, message: string): void
  error(details: object, message: string): void
}

export function createMailer(config: Pick<Config, 'SMTP_URL' | 'MAIL_FROM' | 'NODE_ENV'>, log: Log): Mailer {
  if (config.SMTP_URL === undefined) {
    const development = config.NODE_ENV !== 'production'
    return {
      mode: development ? 'log' : 'off',
      description: development ? 'to the log (no SMTP_URL; development only)' : 'off (no SMTP_URL): the mail endpoints answer 503',
      assertAvailable() {
        // Every 503 says when to retry; this one lasts until an operator sets SMTP_URL.
        if (!development) throw new ServiceError('MAIL_UNAVAILABLE', undefined, { 'retry-after': '3600' })
      },
      async send(mail, purpose) {
        if (development) log.info({ mail: { purpose, to: mail.to, subject: mail.subject, body: mail.text } }, 'mail not sent (no SMTP_URL): its text is logged instead')
      },
      close() {}
    }
  }
  const transport: Transporter = nodemailer.createTransport(config.SMTP_URL)
  return {
    mode: 'smtp',
    description: withoutPassword(config.SMTP_URL),
    assertAvailable() {},
    async send(mail, purpose) {
      try {
        await transport.sendMail({ from: config.MAIL_FROM, ...mail })
      } catch (error) {
        const { message, code, responseCode } = error as { message?: string; code?: string; responseCode?: number }
        log.error({ err: { message, code, responseCode }, purpose }, 'mail not sent')
      }
    },
    close() {
      transport.close()
    }
  }
}
