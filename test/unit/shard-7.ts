import { importShard } from './files.js'

await importShard(import.meta.url)
