// Many clients at once, each with its own driver (so its own connection to boltgate), running
// write and read transactions against the synthetic server through a transaction-pooling
// boltgate (tests/pool_drivers.rs); the JavaScript twin of tests/py/pool_clients.py.
//   node pool_clients.mjs URI CLIENTS ROUNDS [falkordb]
// Client c, round i: executeWrite `RETURN c*1000+i`, executeRead `RETURN c*1000+500+i`, each
// checked for its own value (the synthetic server). With `falkordb`, as the Python script
// against FalkorDB: executeWrite `CREATE (:PoolW {client: c, i: i})`, then executeRead counts
// the client's own nodes, which must be i+1. Prints {"clients", "writes", "reads", "errors"}.
import neo4j from 'neo4j-driver'

const [uri, clients, rounds, server] = process.argv.slice(2)
const falkordb = server === 'falkordb'
const out = { clients: Number(clients), writes: 0, reads: 0, errors: [] }

// Integers as Bolt integers: a JavaScript number is sent as a float.
async function falkordbRound (session, c, i) {
  await session.executeWrite(tx => tx.run('CREATE (:PoolW {client: $c, i: $i})', { c: neo4j.int(c), i: neo4j.int(i) }))
  out.writes += 1
  const n = await session.executeRead(async tx => {
    const r = await tx.run('MATCH (n:PoolW {client: $c}) RETURN count(n)', { c: neo4j.int(c) })
    return neo4j.integer.toNumber(r.records[0].get(0))
  })
  if (n !== i + 1) throw new Error(`client ${c} round ${i} sees ${n} of its writes`)
  out.reads += 1
}

async function syntheticRound (session, c, i) {
  const w = c * 1000 + i
  const got = await session.executeWrite(async tx => {
    const r = await tx.run(`RETURN ${w}`)
    return r.records[0].get(0).toNumber()
  })
  if (got !== w) throw new Error(`write ${w} returned ${got}`)
  out.writes += 1
  const r = c * 1000 + 500 + i
  const read = await session.executeRead(async tx => {
    const res = await tx.run(`RETURN ${r}`)
    return res.records[0].get(0).toNumber()
  })
  if (read !== r) throw new Error(`read ${r} returned ${read}`)
  out.reads += 1
}

async function client (c) {
  const driver = neo4j.driver(uri, neo4j.auth.none(), {
    maxConnectionPoolSize: 1,
    connectionTimeout: 30000,
    connectionAcquisitionTimeout: 120000,
    maxTransactionRetryTime: 0,
    logging: { level: 'error', logger: () => {} }
  })
  const session = driver.session({ database: 'neo4j' })
  try {
    for (let i = 0; i < Number(rounds); i++) {
      await (falkordb ? falkordbRound : syntheticRound)(session, c, i)
    }
  } catch (e) {
    out.errors.push(`client ${c}: ${e.constructor.name}: ${e.code ?? ''} ${e.message}`)
  } finally {
    await session.close()
    await driver.close()
  }
}

await Promise.all(Array.from({ length: Number(clients) }, (_, c) => client(c)))
process.stdout.write(JSON.stringify(out) + '\n')
