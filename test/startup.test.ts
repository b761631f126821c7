import { test } from 'tap'
import { loadConfig } from '../src/config.js'
import { withoutPassword } from '../src/settings/urls.js'
import { describeStores } from '../src/startup.js'

test('the start-up line names each store topology, never a password', async (t) => {
  const rows: [string, Record<string, string>, object][] = [
    ['embedded', { DATA_DIR: '/var/lib/auth' }, { database: { kind: 'sqlite', data_dir: '/var/lib/auth' }, revocations: { kind: 'sqlite', data_dir: '/var/lib/auth' } }],
    [
      'one Redis and PostgreSQL',
      { REDIS_URL: 'rediss://app:s3cret@redis.internal:6380/2', DATABASE_URL: 'postgres://auth:s3cret@db.internal/auth?sslmode=require&password=s3cret', DATABASE_SCHEMA: 'tenant_a' },
      {
        database: { kind: 'postgresql', url: 'postgres://auth:redacted@db.internal/auth?sslmode=require&password=redacted', schema: 'tenant_a' },
        revocations: { kind: 'redis', topology: 'single', url: 'rediss://app:redacted@redis.internal:6380/2', wait_replicas: 0 }
      }
    ],
    ['a Cluster', { REDIS_CLUSTER_NODES: 'r1:7000,r2:7000', REDIS_URL: 'redis://ignored:6379' }, { revocations: { kind: 'redis', topology: 'cluster', nodes: 'r1:7000,r2:7000' } }],
    [
      'Sentinel',
      { REDIS_SENTINELS: 's1:26379,s2:26379', REDIS_SENTINEL_NAME: 'auth', REDIS_WAIT_REPLICAS: '1' },
      { revocations: { kind: 'redis', topology: 'sentinel', master: 'auth', sentinels: 's1:26379,s2:26379', wait_replicas: 1 } }
    ]
  ]
  for (const [description, env, expected] of rows) {
    const stores = describeStores(loadConfig(env))
    t.match(stores, expected, description)
    t.notMatch(JSON.stringify(stores), /s3cret/, `${description}: no password`)
  }
})

test('withoutPassword keeps what helps and drops what grants', async (t) => {
  t.equal(withoutPassword('redis://127.0.0.1:6379'), 'redis://127.0.0.1:6379')
  t.equal(withoutPassword('redis://:pw@h:6379'), 'redis://:redacted@h:6379')
  t.equal(withoutPassword('postgresql://u@h/db?PGPASSWORD=x&application_name=auth'), 'postgresql://u@h/db?PGPASSWORD=redacted&application_name=auth')
  t.equal(withoutPassword('not a url with pw'), '[unparseable URL]')
})
