import { createRequire } from 'node:module'
import type BetterSqlite3 from 'better-sqlite3'

const require = createRequire(import.meta.url)

/**
 * better-sqlite3, in the major that works on this Node. Release 12 aborts the process on Node 24.19 and
 * later (Node's ObjectWrap now removes an environment cleanup hook when a collected statement is freed,
 * outside any context: WiseLibs/better-sqlite3#1515); release 13 fixes that but needs Node 22. So both are
 * installed where they can be (13 as an optional dependency, `better-sqlite3-node22`, which npm skips on
 * Node 20), and each Node gets the one it can run. The API is the same.
 */
function load(): typeof BetterSqlite3 {
  if (Number(process.versions.node.split('.')[0]) >= 22) {
    try {
      return require('better-sqlite3-node22') as typeof BetterSqlite3
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw error
    }
  }
  return require('better-sqlite3') as typeof BetterSqlite3
}

export const Database: typeof BetterSqlite3 = load()
export type Database = BetterSqlite3.Database
