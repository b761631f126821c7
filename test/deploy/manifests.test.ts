import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { test } from 'tap'
import { parseAllDocuments } from 'yaml'

const ROOT = join(import.meta.dirname, '..', '..')
const K8S = join(ROOT, 'k8s')

type Manifest = { apiVersion: string; kind: string; metadata: { name: string }; [key: string]: unknown }

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry)
    return statSync(path).isDirectory() ? yamlFiles(path) : path.endsWith('.yaml') ? [path] : []
  })
}

function documents(file: string): Manifest[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((document) => {
    if (document.errors.length > 0) throw new Error(`${file}: ${document.errors[0]!.message}`)
    return document.toJSON() as Manifest
  })
}

/** kubernetes-models' class for an apiVersion and kind: `apps/v1` + `Deployment` -> kubernetes-models/apps/v1/Deployment. */
async function model(manifest: Manifest): Promise<new (data: unknown) => { validate(): void }> {
  const module = (await import(`kubernetes-models/${manifest.apiVersion}/${manifest.kind}`)) as Record<string, new (data: unknown) => { validate(): void }>
  return module[manifest.kind]!
}

test('the Dockerfile passes dockerfilelint and keeps its promises', async (t) => {
  const lint = spawnSync(join(ROOT, 'node_modules', '.bin', 'dockerfilelint'), [join(ROOT, 'Dockerfile')], { encoding: 'utf8' })
  t.equal(lint.status, 0, lint.stdout)
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
  const stages = dockerfile.split(/^FROM /m).slice(1)
  t.ok(stages.length >= 2, 'multi-stage')
  const runtime = stages.at(-1)!
  t.notMatch(runtime, /g\+\+|make|python3/, 'no compiler in the runtime stage')
  t.match(dockerfile, /npm ci --omit=dev/, 'production dependencies from npm ci --omit=dev')
  t.match(runtime, /^USER node$/m, 'runs as a non-root user')
  t.match(runtime, /HOST=0\.0\.0\.0/, 'listens on 0.0.0.0')
  t.match(runtime, /^HEALTHCHECK .*\n?.*\/health\/live/m, 'HEALTHCHECK against /health/live')
  t.match(runtime, /^ENTRYPOINT \["\/usr\/bin\/tini", "--"\]/m, 'an init that forwards signals')
})

test('every Kubernetes manifest validates against the Kubernetes schemas', async (t) => {
  const files = yamlFiles(K8S)
  t.ok(files.length >= 10)
  for (const file of files) {
    for (const manifest of documents(file)) {
      const name = `${relative(ROOT, file)}: ${manifest.kind}/${manifest.metadata?.name}`
      if (manifest.kind === 'Kustomization') {
        const base = dirname(file)
        for (const resource of (manifest.resources as string[] | undefined) ?? []) t.ok(existsSync(join(base, resource)), `${name} resource ${resource} exists`)
        for (const patch of (manifest.patches as { path: string }[] | undefined) ?? []) t.ok(existsSync(join(base, patch.path)), `${name} patch ${patch.path} exists`)
        continue
      }
      if (file.endsWith('-patch.yaml')) continue // partial by design; checked below against its target
      const Model = await model(manifest)
      try {
        new Model(manifest).validate()
        t.pass(`${name} is valid`)
      } catch (error) {
        t.fail(`${name}: ${(error as Error).message}`)
      }
    }
  }
})

test('the validator does refuse a broken manifest', async (t) => {
  const deployment = documents(join(K8S, 'base', 'deployment.yaml'))[0]!
  const Model = await model(deployment)
  const broken = { ...deployment, spec: { ...(deployment.spec as object), replicas: 'two' } }
  t.throws(() => new Model(broken).validate(), 'replicas must be an integer')
})

test('the base deploys what a production service needs', async (t) => {
  const base = (file: string) => documents(join(K8S, 'base', file))[0]!
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a manifest read back from YAML
  const deployment = base('deployment.yaml') as unknown as { spec: { replicas: number; template: { spec: Record<string, any> } } }
  const pod = deployment.spec.template.spec
  const container = pod.containers[0]
  t.ok(deployment.spec.replicas >= 2, 'at least 2 replicas')
  t.equal(pod.securityContext.runAsNonRoot, true, 'runAsNonRoot')
  t.equal(container.securityContext.readOnlyRootFilesystem, true, 'read-only root filesystem')
  t.equal(container.readinessProbe.httpGet.path, '/health/ready')
  t.equal(container.livenessProbe.httpGet.path, '/health/live')
  t.ok(container.resources.requests.cpu && container.resources.limits.memory, 'requests and limits')
  t.ok(container.lifecycle.preStop, 'preStop for draining')
  t.match(pod.volumes, [{ name: 'signing-key', secret: { secretName: 'jwt-auth-signing-key' } }], 'the signing key from a Secret')
  t.match(container.env, [{ name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: 'jwt-auth-database' } } }], 'DATABASE_URL from a Secret')
  t.match(container.env, [{}, { name: 'UV_THREADPOOL_SIZE', valueFrom: { resourceFieldRef: { resource: 'limits.cpu', divisor: '1' } } }], "libuv's pool as wide as the pod's CPU limit")
  t.match(container.envFrom, [{ configMapRef: { name: 'jwt-auth-service' } }], 'settings from a ConfigMap')
  const config = base('configmap.yaml') as unknown as { data: Record<string, string> }
  t.equal(config.data.JWT_PRIVATE_KEY_FILE, '/etc/jwt-auth/signing-key.pem', 'the key file is where the Secret is mounted')
  for (const kind of ['Service', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'NetworkPolicy', 'ServiceAccount']) {
    t.ok(yamlFiles(join(K8S, 'base')).some((file) => documents(file).some((d) => d.kind === kind)), `base has a ${kind}`)
  }
  const aof = documents(join(K8S, 'overlays', 'redis-aof', 'redis.yaml')).find((d) => d.kind === 'StatefulSet') as unknown as { spec: { template: { spec: { containers: { args: string[] }[] } } } }
  t.match(aof.spec.template.spec.containers[0]!.args.join(' '), /--appendonly yes/, 'the single-Redis overlay persists with AOF')
  for (const overlay of ['redis-aof', 'redis-sentinel']) {
    const patch = documents(join(K8S, 'overlays', overlay, 'configmap-patch.yaml'))[0]!
    t.match(patch, { kind: 'ConfigMap', metadata: { name: 'jwt-auth-service' } }, `${overlay} patches the base ConfigMap`)
  }
  const sentinel = documents(join(K8S, 'overlays', 'redis-sentinel', 'configmap-patch.yaml'))[0] as unknown as { data: Record<string, string> }
  t.match(sentinel.data, { REDIS_SENTINELS: /:26379/, REDIS_SENTINEL_NAME: String, REDIS_WAIT_REPLICAS: '1' })
})

test('docker-compose.yml runs the service with PostgreSQL and Redis', async (t) => {
  const compose = documents(join(ROOT, 'docker-compose.yml'))[0] as unknown as { services: Record<string, { environment?: Record<string, string> }> }
  t.same(Object.keys(compose.services).sort(), ['jwt-auth-service', 'postgres', 'redis'])
  t.match(compose.services['jwt-auth-service']!.environment, { DATABASE_URL: /^postgres:\/\//, REDIS_URL: /^redis:\/\//, JWT_PRIVATE_KEY_FILE: String })
})
