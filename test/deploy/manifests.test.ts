import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { test } from 'tap'
import { parseAllDocuments } from 'yaml'
import { imageRuntime, parseImageRuntime } from '../../scripts/image-runtime.js'

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

/** dockerfile-utils (the maintained linter behind VS Code's Dockerfile support): exit status and what it printed. */
function lintDockerfile(file: string): { status: number | null; output: string } {
  const lint = spawnSync(join(ROOT, 'node_modules', '.bin', 'dockerfile-utils'), ['lint', file], { encoding: 'utf8' })
  return { status: lint.status, output: `${lint.stdout}${lint.stderr}`.trim() }
}

test('the Dockerfile lints clean with dockerfile-utils, and keeps its promises', async (t) => {
  const lint = lintDockerfile(join(ROOT, 'Dockerfile'))
  t.equal(lint.status, 0, lint.output)
  t.equal(lint.output, '', 'no error and no warning')
  // The linter does fail a broken file (so the check above can fail).
  const broken = join(mkdtempSync(join(tmpdir(), 'dockerfile-')), 'Dockerfile')
  writeFileSync(broken, 'FROM node:24-bookworm-slim\nEXPOSE abc\nCMD ["a"]\nCMD ["b"]\n')
  const refused = lintDockerfile(broken)
  t.not(refused.status, 0, 'a broken Dockerfile fails the lint')
  t.match(refused.output, /Invalid containerPort/)
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
  const stages = dockerfile.split(/^FROM /m).slice(1)
  t.ok(stages.length >= 2, 'multi-stage')
  const runtime = stages.at(-1)!
  for (const stage of stages) t.match(stage, /^node:24-bookworm-slim /, 'every stage on Node 24 (bookworm-slim)')
  t.notMatch(runtime, /g\+\+|make|python3/, 'no compiler in the runtime stage')
  t.match(dockerfile, /npm ci --omit=dev/, 'production dependencies from npm ci --omit=dev')
  t.match(runtime, /^USER node$/m, 'runs as a non-root user')
  t.match(runtime, /HOST=0\.0\.0\.0/, 'listens on 0.0.0.0')
  t.match(runtime, /^HEALTHCHECK .*\n?.*\/health\/live/m, 'HEALTHCHECK against /health/live')
  t.match(runtime, /^ENTRYPOINT \["\/usr\/bin\/tini", "--"\]/m, 'an init that forwards signals')
  // Every file the build context must give exists here (a COPY of a missing path fails the image's build).
  for (const [, sources] of dockerfile.matchAll(/^COPY (?!--from)(?:--\S+ )*(.+) \S+$/gm)) {
    for (const source of sources!.split(' ')) t.ok(existsSync(join(ROOT, source)), `COPY ${source}: it exists`)
  }
  // node_modules/@jwt-auth-service/verifier links to the workspace: the image holds its manifest and its build.
  t.match(runtime, /^COPY --from=build .*\/app\/packages\/verifier\/dist \.\/packages\/verifier\/dist$/m, "the runtime has the verifier package's build")
  t.match(runtime, /^COPY .*packages\/verifier\/package\.json \.\/packages\/verifier\/$/m, 'and its package.json')
})

test("the image's runtime settings are read from its instructions, not from its comments", async (t) => {
  const dockerfile = 'FROM node:24\nENV MALLOC_ARENA_MAX=2 \\\n    MALLOC_TRIM_THRESHOLD_=131072\n# MALLOC_ARENA_MAX=8, as a comment says\nCMD ["node", "--max-old-space-size=192", "dist/src/server.js"]\n'
  t.same(parseImageRuntime(dockerfile), { nodeArgs: ['--max-old-space-size=192'], memoryEnv: { MALLOC_ARENA_MAX: '2', MALLOC_TRIM_THRESHOLD_: '131072' } })
  t.throws(() => parseImageRuntime('FROM node:24\nCMD node server.js\n'), /no CMD in exec form/)
  t.same(imageRuntime().memoryEnv, { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '131072', GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' }, "the project's Dockerfile")
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
      t.doesNotThrow(() => new Model(manifest).validate(), `${name} is valid`)
    }
  }
})

test('the validator does refuse a broken manifest', async (t) => {
  const deployment = documents(join(K8S, 'base', 'deployment.yaml'))[0]!
  const Model = await model(deployment)
  const broken = { ...deployment, spec: { ...(deployment.spec as object), replicas: 'two' } }
  t.throws(() => new Model(broken).validate(), 'replicas must be an integer')
})

/** `kubectl kustomize <dir>`: the manifests as they are applied (generators, patches, labels, images). */
function render(dir: string): { status: number | null; stderr: string; manifests: Manifest[] } {
  const run = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8' })
  if (run.error !== undefined) throw new Error(`kubectl is needed to render the kustomizations (.ci/run installs it): ${run.error.message}`)
  const manifests = run.status === 0 ? parseAllDocuments(run.stdout).map((document) => document.toJSON() as Manifest) : []
  return { status: run.status, stderr: run.stderr, manifests }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- manifests read back from YAML
type Loose = Record<string, any>
const find = (manifests: Manifest[], kind: string, name?: string): Loose =>
  manifests.find((m) => m.kind === kind && (name === undefined || m.metadata.name === name)) as unknown as Loose

test('the rendered base and overlays (kubectl kustomize) validate against the Kubernetes schemas', async (t) => {
  for (const dir of ['base', 'overlays/redis-aof', 'overlays/redis-sentinel', 'examples/admin-api']) {
    const { status, stderr, manifests } = render(join(K8S, dir))
    t.equal(status, 0, `${dir} renders${stderr ? `: ${stderr}` : ''}`)
    t.ok(manifests.length >= 7, `${dir}: ${manifests.length} manifests`)
    for (const manifest of manifests) {
      const Model = await model(manifest)
      t.doesNotThrow(() => new Model(manifest).validate(), `${dir}: ${manifest.kind}/${manifest.metadata.name} is valid`)
    }
  }
  // Rendering does fail a broken kustomization (so the checks above can fail).
  const broken = mkdtempSync(join(tmpdir(), 'kustomize-'))
  writeFileSync(join(broken, 'kustomization.yaml'), 'resources:\n  - missing.yaml\n')
  t.not(render(broken).status, 0, 'a kustomization naming a missing file does not render')
})

test('the admin-api example: ADMIN_TOKEN_FILE names the token mounted from its Secret, beside the base settings', async (t) => {
  const deployment = find(render(join(K8S, 'examples', 'admin-api')).manifests, 'Deployment')
  const container = deployment.spec.template.spec.containers[0]
  const env = Object.fromEntries(container.env.map((variable: Loose) => [variable.name, variable.value ?? variable.valueFrom]))
  t.equal(env.ADMIN_TOKEN_FILE, '/etc/jwt-auth-admin/admin-token')
  t.ok(env.DATABASE_URL, "the base's settings are kept")
  const mount = container.volumeMounts.find((volume: Loose) => volume.mountPath === '/etc/jwt-auth-admin')
  t.match(mount, { readOnly: true })
  t.match(deployment.spec.template.spec.volumes.find((volume: Loose) => volume.name === mount.name), { secret: { secretName: 'jwt-auth-admin-token' } })
  const base = find(render(join(K8S, 'base')).manifests, 'ConfigMap')
  t.equal(Object.entries(base.data).find(([name]) => name === 'MANAGEMENT_PORT')?.[1], '9000', 'the admin API needs the management port, which the base sets')
})

test('the workload example: a projected service-account token for the service, and the client the README creates', async (t) => {
  const { status, stderr, manifests } = render(join(K8S, 'examples', 'workload'))
  t.equal(status, 0, stderr)
  for (const manifest of manifests) {
    const Model = await model(manifest)
    t.doesNotThrow(() => new Model(manifest).validate(), `${manifest.kind}/${manifest.metadata.name} is valid`)
  }
  const issuer = /ISSUER=(\S+)/.exec(readFileSync(join(K8S, 'base', 'kustomization.yaml'), 'utf8'))![1]
  const pod = find(manifests, 'Deployment').spec.template.spec
  t.not(pod.serviceAccountName, 'default', 'its own service account')
  t.equal(find(manifests, 'ServiceAccount').metadata.name, pod.serviceAccountName)
  const projected = pod.volumes.find((volume: Loose) => volume.projected !== undefined).projected.sources[0].serviceAccountToken
  t.equal(projected.audience, issuer, "the token's audience is the service's ISSUER")
  t.ok(projected.expirationSeconds >= 600 && projected.expirationSeconds <= 86_400, 'an expiry the kubelet accepts, within FEDERATED_ASSERTION_MAX_LIFETIME')
  const container = pod.containers[0]
  const mount = container.volumeMounts.find((m: Loose) => m.name === pod.volumes.find((v: Loose) => v.projected !== undefined).name)
  t.equal(container.env.find((e: Loose) => e.name === 'TOKEN_FILE').value, `${mount.mountPath}/${projected.path}`, 'the script reads the projected file')
  t.equal(container.env.find((e: Loose) => e.name === 'AUTH_URL').value, issuer)
  t.ok(find(manifests, 'ConfigMap').data['fetch-token.mjs'], 'the script, from a generated ConfigMap')
  const namespace = find(manifests, 'Deployment').metadata.namespace
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  t.match(readme, `--federated-subject system:serviceaccount:${namespace}:${pod.serviceAccountName}`, 'the README creates the matching client')
})

test('the ingress-nginx example: the API routes to the service, forward auth to /auth/verify for the upstream', async (t) => {
  const { status, stderr, manifests } = render(join(K8S, 'examples', 'ingress'))
  t.equal(status, 0, stderr)
  t.equal(manifests.length, 2)
  for (const manifest of manifests) {
    const Model = await model(manifest)
    t.doesNotThrow(() => new Model(manifest).validate(), `${manifest.kind}/${manifest.metadata.name} is valid`)
  }
  const service = find(render(join(K8S, 'base')).manifests, 'Service', 'jwt-auth-service')
  const auth = find(manifests, 'Ingress', 'jwt-auth-service')
  const routes = auth.spec.rules.flatMap((rule: Loose) => rule.http.paths)
  t.same(routes.map((route: Loose) => route.path).sort(), ['/.well-known/', '/api/', '/oauth/'], 'the API, OAuth and discovery routes, not /auth/verify, /metrics or the probes')
  for (const route of routes) {
    t.equal(route.backend.service.name, service.metadata.name, `${route.path} goes to the service`)
    t.ok(service.spec.ports.some((port: Loose) => port.name === route.backend.service.port.name), `${route.path}: a port the Service has`)
  }
  const orders = find(manifests, 'Ingress', 'orders').metadata.annotations
  const authUrl = new URL(orders['nginx.ingress.kubernetes.io/auth-url'])
  t.equal(authUrl.hostname.split('.')[0], service.metadata.name, 'forward auth asks the service')
  t.equal(authUrl.pathname, '/auth/verify')
  t.ok(authUrl.searchParams.get('audience'), "with the upstream's audience")
  t.same(orders['nginx.ingress.kubernetes.io/auth-response-headers'].split(','), ['X-Auth-Subject', 'X-Auth-Session', 'X-Auth-Client', 'X-Auth-Scope', 'X-Auth-Actor', 'X-Auth-Key-Thumbprint'], 'every identity header /auth/verify answers')
})

test('the rendered deployment is what a production service needs', async (t) => {
  const { manifests } = render(join(K8S, 'overlays', 'redis-aof'))
  const deployment = find(manifests, 'Deployment', 'jwt-auth-service')
  const pod = deployment.spec.template.spec
  const container = pod.containers[0]
  t.equal(deployment.spec.replicas, undefined, 'no replicas in the Deployment: the HPA owns the count')
  t.ok(find(manifests, 'HorizontalPodAutoscaler').spec.minReplicas >= 2, 'at least 2 replicas, from the HPA')
  t.equal(pod.securityContext.runAsNonRoot, true, 'runAsNonRoot')
  t.equal(container.securityContext.readOnlyRootFilesystem, true, 'read-only root filesystem')
  t.match(container.readinessProbe.httpGet, { path: '/health/ready', port: 'management' })
  t.match(container.livenessProbe.httpGet, { path: '/health/live', port: 'management' })
  t.match(container.ports, [{ name: 'http', containerPort: 3000 }, { name: 'management', containerPort: 9000 }])
  t.ok(container.resources.requests.cpu && container.resources.limits.memory, 'requests and limits')
  const limitMiB = Number(/^(\d+)Mi$/.exec(container.resources.limits.memory)?.[1])
  const oldSpaceMiB = Number(imageRuntime().nodeArgs.find((arg) => arg.startsWith('--max-old-space-size='))?.split('=')[1])
  t.ok(oldSpaceMiB > 0 && oldSpaceMiB <= limitMiB / 2, `the image caps V8's old generation (${oldSpaceMiB} MiB) at half the pod's memory limit (${limitMiB} MiB) or less`)
  t.ok(container.lifecycle.preStop, 'preStop for draining')
  t.match(container.image, /^ghcr\.io\/example\/jwt-auth-service:\d+\.\d+\.\d+$/, 'a tagged image (set by kustomize `images`)')
  t.match(pod.volumes, [{ name: 'signing-key', secret: { secretName: 'jwt-auth-signing-key' } }], 'the signing key from a Secret')
  t.ok(container.env.some((e: Loose) => e.name === 'DATABASE_URL' && e.valueFrom?.secretKeyRef?.name === 'jwt-auth-database'), 'DATABASE_URL from a Secret')
  t.ok(container.env.some((e: Loose) => e.name === 'UV_THREADPOOL_SIZE' && e.valueFrom?.resourceFieldRef?.resource === 'limits.cpu'), "libuv's pool as wide as the pod's CPU limit")
  t.ok(container.env.some((e: Loose) => e.name === 'REDIS_URL' && e.valueFrom?.secretKeyRef?.name === 'jwt-auth-redis'), 'REDIS_URL (with its password) from a Secret')

  const config = find(manifests, 'ConfigMap')
  t.match(config.metadata.name, /^jwt-auth-service-[a-z0-9]{10}$/, 'a generated ConfigMap: its name changes with its contents')
  t.same(container.envFrom, [{ configMapRef: { name: config.metadata.name } }], 'the pods read that very ConfigMap: a change rolls them')
  t.match(config.data, { JWT_PRIVATE_KEY_FILE: '/etc/jwt-auth/signing-key.pem', TRUST_PROXY: '1', MANAGEMENT_PORT: '9000' })
  t.notOk('REDIS_URL' in config.data, 'no Redis URL (nor password) in the ConfigMap')

  const policy = find(manifests, 'NetworkPolicy', 'jwt-auth-service')
  t.equal(policy.spec.ingress.length, 2, 'two ways in')
  t.same(policy.spec.ingress[0], { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } }, podSelector: { matchExpressions: [{ key: 'app.kubernetes.io/name', operator: 'In', values: ['ingress-nginx'] }] } }], ports: [{ port: 3000, protocol: 'TCP' }] }, 'the API from the ingress controller only')
  t.same(policy.spec.ingress[1], { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } }, podSelector: { matchExpressions: [{ key: 'app.kubernetes.io/name', operator: 'In', values: ['prometheus'] }] } }], ports: [{ port: 9000, protocol: 'TCP' }] }, 'the metrics from the scraper only')
  for (const rule of policy.spec.ingress) t.equal(rule.from.length, 1, 'no other peer')

  const redis = find(manifests, 'StatefulSet', 'jwt-auth-redis').spec.template.spec.containers[0]
  const args = (redis.args as string[]).join(' ')
  t.match(args, /--appendonly yes --appendfsync everysec/, 'AOF persistence, its durability documented')
  t.match(args, /--maxmemory-policy noeviction/, 'noeviction: a revocation is never evicted')
  t.match(args, /--requirepass \$\(REDIS_PASSWORD\)/, 'a password')
  t.match(redis.env, [{ name: 'REDIS_PASSWORD', valueFrom: { secretKeyRef: { name: 'jwt-auth-redis', key: 'password' } } }], 'the password from the Secret')
  const redisPolicy = find(manifests, 'NetworkPolicy', 'jwt-auth-redis')
  t.same(redisPolicy.spec.ingress, [{ from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'jwt-auth-service' } } }], ports: [{ port: 6379, protocol: 'TCP' }] }], 'Redis admits the service only')

  const sentinelOverlay = render(join(K8S, 'overlays', 'redis-sentinel')).manifests
  const sentinel = find(sentinelOverlay, 'ConfigMap')
  t.match(sentinel.data, { REDIS_SENTINELS: /:26379/, REDIS_SENTINEL_NAME: String, REDIS_WAIT_REPLICAS: '1', ISSUER: String }, 'the Sentinel overlay merges its settings into the base ones')
  t.notOk('REDIS_PASSWORD' in sentinel.data || 'REDIS_SENTINEL_PASSWORD' in sentinel.data, 'no password in the ConfigMap')
  const sentinelEnv = find(sentinelOverlay, 'Deployment', 'jwt-auth-service').spec.template.spec.containers[0].env as Loose[]
  for (const [name, key] of [['REDIS_PASSWORD', 'password'], ['REDIS_SENTINEL_PASSWORD', 'sentinel-password']]) {
    t.match(sentinelEnv.find((variable) => variable.name === name), { valueFrom: { secretKeyRef: { name: 'jwt-auth-redis-sentinel', key } } }, `${name} from the Secret`)
  }
})

/** `docker-compose config`: the file as Compose reads it (no engine needed). */
function composeConfig(file: string): { status: number | null; stderr: string; config: Loose } {
  const run = spawnSync('docker-compose', ['-f', file, 'config'], { encoding: 'utf8', cwd: dirname(file) })
  if (run.error !== undefined) throw new Error(`docker-compose is needed to read the compose file (.ci/run installs it): ${run.error.message}`)
  return { status: run.status, stderr: run.stderr, config: run.status === 0 ? (parseAllDocuments(run.stdout)[0]!.toJSON() as Loose) : {} }
}

test('docker-compose.yml runs the service with PostgreSQL and Redis, and a key the service can read', async (t) => {
  const { status, stderr, config } = composeConfig(join(ROOT, 'docker-compose.yml'))
  t.equal(status, 0, `docker-compose config accepts it${stderr ? `: ${stderr}` : ''}`)
  t.same(Object.keys(config.services).sort(), ['jwt-auth-service', 'postgres', 'redis', 'signing-key'])
  const service = config.services['jwt-auth-service']
  t.match(service.environment, { DATABASE_URL: /^postgres:\/\//, REDIS_URL: /^redis:\/\//, JWT_PRIVATE_KEY_FILE: '/keys/signing-key.pem' })
  t.ok(service.volumes.includes('keys:/keys:ro'), 'the key volume, read-only')
  t.same(service.depends_on['signing-key'], { condition: 'service_completed_successfully' }, 'starts once the key is in place')
  // `npm run keys` writes the key 0600 for the host user, and a compose secret outside Swarm keeps the host's owner
  // and mode: the copy runs as root (who reads any mode) and hands it to the image's user.
  const copy = config.services['signing-key']
  t.equal(copy.user, 'root', 'the copy runs as root')
  t.same(copy.entrypoint, ['install', '-o', 'node', '-g', 'node', '-m', '0400', '/run/secrets/signing-key', '/keys/signing-key.pem'], 'owned by node, readable by it alone')
  t.equal(copy.image, service.image, 'the same image (it has the node user)')
  t.match(readFileSync(join(ROOT, 'Dockerfile'), 'utf8').split(/^FROM /m).at(-1)!, /^USER node$/m, 'the service runs as node, the owner of the copy')
  t.equal(config.secrets['signing-key'].file, join(ROOT, 'signing-key.pem'), 'the key npm run keys -- --out ./signing-key.pem writes')
  // Compose does refuse a broken file (so the check above can fail).
  const broken = join(mkdtempSync(join(tmpdir(), 'compose-')), 'docker-compose.yml')
  writeFileSync(broken, 'services:\n  app:\n    image: x\n    depends_on:\n      db:\n        condition: service_sideways\n')
  t.not(composeConfig(broken).status, 0, 'a broken compose file is refused')
})
