import type { FastifyPluginAsync } from 'fastify'
import login from './login.js'
import logout from './logout.js'
import email from './email.js'
import password from './password.js'
import passwordReset from './password-reset.js'
import refresh from './refresh.js'
import register from './register.js'
import sessions from './sessions.js'
import user from './user.js'

/** The seed API (the paths of the Laravel exercise this service re-implements), sessions, password, and the account's mails. */
const api: FastifyPluginAsync = async (fastify) => {
  await fastify.register(register)
  await fastify.register(login)
  await fastify.register(user)
  await fastify.register(refresh)
  await fastify.register(logout)
  await fastify.register(sessions)
  await fastify.register(password)
  await fastify.register(passwordReset)
  await fastify.register(email)
}

export default api
