import type { Cluster } from './cluster.js'
import { AUDIENCE, CLIENT_AUDIENCE } from './cluster.js'
import type { Op, OpKind, TokenRecord } from './history.js'
import type { Random } from './random.js'

/**
 * The load: users who register, log in, refresh, log out and change their password; clients that get
 * tokens, revoke them and have their secrets rotated; and verifications of live and revoked tokens at
 * every instance and library. Every request is recorded (history.ts), and nothing is retried: a call that
 * got no answer, or a 5xx, may or may not have happened, and the session, token or user it concerned is
 * not used again (the checker allows for either outcome).
 */
const REQUEST_TIMEOUT_MS = 3_000
const PASSWORD = 'correct horse battery'

interface Token {
  raw: string
  record: TokenRecord
}

interface Session {
  sid: string
  current: Token
  busy: boolean
  over: boolean
}

interface User {
  id: string
  email: string
  password: string
  sessions: Session[]
  /** A password change of unknown outcome: its password is not known any more. */
  retired: boolean
}

interface ClientAccount {
  id: string
  secret: string
  tokens: Token[]
  busy: boolean
  retired: boolean
}

function payloadOf(raw: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(raw.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>
}

const basic = (id: string, secret: string): string => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`

export class Workload {
  readonly ops: Op[] = []
  readonly tokens: TokenRecord[] = []
  private readonly users: User[] = []
  private readonly clients: ClientAccount[] = []
  /** Tokens whose revocation was acknowledged, newest last: what the verifications probe the bound with. */
  private readonly revoked: Token[] = []
  private nextId = 0
  private running = true
  /**
   * The verification targets a fault hits now, and until when (monotonic ms): verifications lean on them, with
   * the newest revoked tokens, as a Jepsen generator aims its reads at the moment of a fault.
   */
  private focus: { targets: string[]; until: number } | undefined

  constructor(private readonly cluster: Cluster, private readonly random: Random) {}

  async prepare(users: number, clients: number): Promise<void> {
    for (let i = 0; i < users; i++) await this.register()
    for (let i = 0; i < clients; i++) {
      const id = `nemesis-client-${i}`
      const { secret } = await this.cluster.admin.clients.create(id, { scopes: ['api'], audiences: [CLIENT_AUDIENCE], privileges: [] })
      this.clients.push({ id, secret, tokens: [], busy: false, retired: false })
    }
  }

  /** `workers` loops of random operations until stop(). */
  run(workers: number): Promise<void> {
    return Promise.all(Array.from({ length: workers }, () => this.loop())).then(() => undefined)
  }

  stop(): void {
    this.running = false
  }

  /** Aims half of the verifications at `targets`, with tokens revoked moments ago, until `until`. */
  aim(targets: string[], until: number): void {
    this.focus = { targets, until }
  }

  private async loop(): Promise<void> {
    while (this.running) {
      await this.step().catch((error: unknown) => {
        // A bug of the nemesis itself, never of the service: stop and say so.
        this.running = false
        throw error
      })
    }
  }

  private instance(): { name: string; url: string } {
    const name = this.random.pick(['A', 'B', 'C'] as const)
    return { name, url: this.cluster.instances[name].url }
  }

  private async step(): Promise<void> {
    const roll = this.random.next()
    if (roll < 0.6) return this.verify()
    if (roll < 0.68) return this.login()
    if (roll < 0.77) return this.refresh()
    if (roll < 0.81) return this.logout()
    if (roll < 0.82) return this.changePassword()
    if (roll < 0.91) return this.grant()
    if (roll < 0.95) return this.revoke()
    if (roll < 0.955) return this.rotate()
    // Spread the load: a short breath now and then.
    await new Promise((resolve) => setTimeout(resolve, 5))
  }

  /** Sends and records one request; `read` turns the answer into what the op recorded. */
  private async request(kind: OpKind, target: string, url: string, init: RequestInit, fields: Partial<Op> = {}): Promise<{ op: Op; body: Record<string, unknown> }> {
    const op: Op = { id: this.nextId++, kind, target, sentAt: performance.now(), ...fields }
    this.ops.push(op)
    let body: Record<string, unknown> = {}
    try {
      const response = await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
      const text = await response.text()
      op.answeredAt = performance.now()
      op.status = response.status
      try {
        body = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>)
      } catch {
        body = {}
      }
      if (typeof body.code === 'string') op.code = body.code
      if (response.status === 503 && response.headers.get('retry-after') === null) op.noRetryAfter = true
    } catch {
      op.answeredAt = performance.now()
      op.status = 0
    }
    return { op, body }
  }

  private record(raw: string, issuedBy: Op, owner: string): Token {
    const claims = payloadOf(raw)
    const record: TokenRecord = {
      jti: claims.jti as string,
      kind: typeof claims.sid === 'string' ? 'user' : 'client',
      owner,
      sid: typeof claims.sid === 'string' ? claims.sid : undefined,
      expMs: (claims.exp as number) * 1000,
      issuedBy: issuedBy.id
    }
    issuedBy.produced = record.jti
    this.tokens.push(record)
    return { raw, record }
  }

  private markRevoked(token: Token): void {
    this.revoked.push(token)
    if (this.revoked.length > 500) this.revoked.shift()
  }

  private json(method: string, body: unknown, token?: string): RequestInit {
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    if (token !== undefined) headers.authorization = `Bearer ${token}`
    return { method, headers, body: JSON.stringify(body) }
  }

  private async register(): Promise<void> {
    const email = `nemesis.${this.nextId}.${Math.floor(this.random.next() * 1e9)}@example.com`
    const { name, url } = this.instance()
    const { op, body } = await this.request('register', name, `${url}/api/register`, this.json('POST', { name: 'Nemesis', email, password: PASSWORD, password_confirmation: PASSWORD }))
    if (op.status === 201) this.users.push({ id: (body.data as { id: string }).id, email, password: PASSWORD, sessions: [], retired: false })
  }

  private liveSessions(): Session[] {
    return this.users.flatMap((user) => (user.retired ? [] : user.sessions.filter((session) => !session.over && !session.busy)))
  }

  private async login(): Promise<void> {
    const users = this.users.filter((user) => !user.retired)
    if (users.length === 0) return this.register()
    const user = this.random.pick(users)
    // Keep the number of sessions bounded: an old one ends first.
    if (user.sessions.filter((session) => !session.over).length >= 4) return this.logout(user)
    const { name, url } = this.instance()
    const { op, body } = await this.request('login', name, `${url}/api/login`, this.json('POST', { email: user.email, password: user.password }), { user: user.id })
    if (op.status !== 200 || user.retired) return
    const token = this.record(body.access_token as string, op, user.id)
    user.sessions.push({ sid: token.record.sid!, current: token, busy: false, over: false })
  }

  private async refresh(): Promise<void> {
    const sessions = this.liveSessions()
    if (sessions.length === 0) return this.login()
    const session = this.random.pick(sessions)
    session.busy = true
    const parent = session.current
    const { name, url } = this.instance()
    const { op, body } = await this.request('refresh', name, `${url}/api/refresh`, { method: 'POST', headers: { authorization: `Bearer ${parent.raw}` } }, { token: parent.record.jti })
    session.busy = false
    if (op.status === 200) {
      session.current = this.record(body.access_token as string, op, parent.record.owner)
      this.markRevoked(parent)
    } else {
      // Refused (the session ended meanwhile) or unknown: this session is done with.
      session.over = true
    }
  }

  private async logout(of?: User): Promise<void> {
    const sessions = of === undefined ? this.liveSessions() : of.sessions.filter((session) => !session.over && !session.busy)
    if (sessions.length === 0) return
    const session = this.random.pick(sessions)
    session.busy = true
    const { name, url } = this.instance()
    const { op } = await this.request('logout', name, `${url}/api/logout`, { method: 'POST', headers: { authorization: `Bearer ${session.current.raw}` } }, { token: session.current.record.jti })
    session.busy = false
    session.over = true
    if (op.status === 200) this.markRevoked(session.current)
  }

  private async changePassword(): Promise<void> {
    const sessions = this.liveSessions()
    if (sessions.length === 0) return
    const session = this.random.pick(sessions)
    const user = this.users.find((candidate) => candidate.sessions.includes(session))!
    session.busy = true
    const password = `${PASSWORD} ${this.nextId}`
    const { name, url } = this.instance()
    const body = { current_password: user.password, password, password_confirmation: password }
    const { op } = await this.request('password', name, `${url}/api/user/password`, this.json('PUT', body, session.current.raw), { token: session.current.record.jti, user: user.id })
    session.busy = false
    if (op.status === 200) {
      user.password = password
      for (const other of user.sessions) {
        if (other === session || other.over) continue
        other.over = true
        this.markRevoked(other.current)
      }
    } else if (op.status !== 400 && op.status !== 401 && op.status !== 429) {
      user.retired = true
    }
  }

  private async grant(): Promise<void> {
    const clients = this.clients.filter((client) => !client.retired && !client.busy)
    if (clients.length === 0) return
    const client = this.random.pick(clients)
    if (client.tokens.length >= 10) return this.revoke(client)
    const { name, url } = this.instance()
    const init = { method: 'POST', headers: { authorization: basic(client.id, client.secret), 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' }
    const { op, body } = await this.request('grant', name, `${url}/oauth/token`, init, { client: client.id })
    if (op.status === 200 && !client.retired) client.tokens.push(this.record(body.access_token as string, op, client.id))
  }

  private async revoke(of?: ClientAccount): Promise<void> {
    const clients = of === undefined ? this.clients.filter((client) => !client.retired && !client.busy && client.tokens.length > 0) : [of]
    if (clients.length === 0 || clients[0]!.tokens.length === 0) return
    const client = this.random.pick(clients)
    const token = client.tokens.splice(Math.floor(this.random.next() * client.tokens.length), 1)[0]!
    const { name, url } = this.instance()
    const init = { method: 'POST', headers: { authorization: basic(client.id, client.secret), 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${token.raw}` }
    const { op } = await this.request('revoke', name, `${url}/oauth/revoke`, init, { token: token.record.jti, client: client.id })
    if (op.status === 200) this.markRevoked(token)
  }

  /** An operator rotates a client's secret (the clients CLI's path): every token it holds is refused. */
  private async rotate(): Promise<void> {
    const clients = this.clients.filter((client) => !client.retired && !client.busy)
    if (clients.length === 0) return
    const client = this.random.pick(clients)
    client.busy = true
    const op: Op = { id: this.nextId++, kind: 'rotate', target: 'admin', sentAt: performance.now(), client: client.id }
    this.ops.push(op)
    try {
      const rotated = await this.cluster.admin.clients.rotateSecret(client.id)
      op.answeredAt = performance.now()
      op.status = 200
      client.secret = rotated!.secret
      for (const token of client.tokens.splice(0)) this.markRevoked(token)
    } catch {
      op.answeredAt = performance.now()
      op.status = 503
      client.retired = true
    }
    client.busy = false
  }

  private async verify(): Promise<void> {
    const live = [
      ...this.liveSessions().map((session) => session.current),
      ...this.clients.filter((client) => !client.retired).flatMap((client) => client.tokens)
    ]
    const aimed = this.focus !== undefined && performance.now() < this.focus.until && this.revoked.length > 0 && this.random.next() < 0.5
    const pool = aimed ? this.revoked.slice(-10) : this.random.next() < 0.35 && this.revoked.length > 0 ? this.revoked : live
    if (pool.length === 0) return
    const token = this.random.pick(pool)
    const names = aimed ? this.focus!.targets : this.cluster.targets.map((target) => target.name)
    const targets = names.filter((name) => token.record.kind === 'user' || name !== 'A /api/user')
    if (targets.length === 0) return
    const target = this.random.pick(targets)
    const fields = { token: token.record.jti }
    const bearer = { authorization: `Bearer ${token.raw}` }
    const { instances, libraries, introspector } = this.cluster
    switch (target) {
      case 'A /auth/verify':
      case 'B /auth/verify':
      case 'C /auth/verify': {
        const instance = instances[target[0] as 'A' | 'B' | 'C']
        const audience = token.record.kind === 'user' ? AUDIENCE : CLIENT_AUDIENCE
        await this.request('verify', target, `${instance.url}/auth/verify?audience=${encodeURIComponent(audience)}`, { headers: bearer }, fields)
        return
      }
      case 'A /api/user':
        await this.request('verify', target, `${instances.A.url}/api/user`, { headers: bearer }, fields)
        return
      case 'B /oauth/introspect': {
        const init = { method: 'POST', headers: { authorization: basic(introspector.id, introspector.secret), 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${token.raw}` }
        const { op, body } = await this.request('verify', target, `${instances.B.url}/oauth/introspect`, init, fields)
        // Inactive is this endpoint's refusal.
        if (op.status === 200 && body.active !== true) op.status = 401
        return
      }
      default: {
        const library = libraries[target as 'L-redis' | 'L-http']
        await this.request('verify', target, `${library.url}/verify`, { headers: bearer }, fields)
      }
    }
  }
}
