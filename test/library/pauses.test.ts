import { test } from 'tap'
import { pauseTrials } from './pause-trials.js'

test('the library never accepts a token revoked during a pause (REDIS_KEY_PREFIX by default)', (t) => pauseTrials(t, undefined))
