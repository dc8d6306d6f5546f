// One fault case against a scripted server (testkit/src/synthetic.rs), reporting what the
// JavaScript driver raised, so the Rust side can compare the same case direct and through
// boltgate. Same cases and output as tests/py/transparency.py:
//   node transparency.mjs URI CASE   (mid_stream | token_expired | commit_dies | goodbye)
// Prints one JSON line {case, records, calls, error: {class, code, message} | null}.
import neo4j from 'neo4j-driver'

const [uri, kase] = process.argv.slice(2)
const out = { case: kase, records: 0, calls: 0, error: null }
// Retries on for the transaction function: a retryable error would run it again.
const driver = neo4j.driver(uri, neo4j.auth.none(), {
  connectionTimeout: 5000,
  maxTransactionRetryTime: 3000,
  logging: { level: 'error', logger: () => {} }
})
const session = driver.session({ database: 'neo4j' })
try {
  if (kase === 'mid_stream') {
    const result = await session.run('DIE_AFTER 3')
    out.records = result.records.length
  } else if (kase === 'token_expired') {
    await session.run('FAIL_CLOSE Neo.ClientError.Security.TokenExpired')
  } else if (kase === 'commit_dies') {
    await session.executeWrite(async tx => {
      out.calls += 1
      const r = await tx.run('COMMIT_DIES')
      return r.records.length
    })
  } else if (kase === 'goodbye') {
    const result = await session.run('RETURN 1')
    out.records = result.records.length
  } else {
    throw new Error('unknown case ' + kase)
  }
} catch (e) {
  out.error = { class: e.constructor.name, code: e.code ?? null, message: String(e.message) }
}
await session.close()
await driver.close()
process.stdout.write(JSON.stringify(out) + '\n')
