// Many clients at once, each with its own driver (so its own connection to boltgate), running
// write and read transactions against the synthetic server through a transaction-pooling
// boltgate (tests/pool_drivers.rs); the JavaScript twin of tests/py/pool_clients.py --synthetic.
//   node pool_clients.mjs URI CLIENTS ROUNDS
// Client c, round i: executeWrite `RETURN c*1000+i`, executeRead `RETURN c*1000+500+i`, each
// checked for its own value. Prints {"clients", "writes", "reads", "errors": [...]}.
import neo4j from 'neo4j-driver'

const [uri, clients, rounds] = process.argv.slice(2)
const out = { clients: Number(clients), writes: 0, reads: 0, errors: [] }

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
  } catch (e) {
    out.errors.push(`client ${c}: ${e.constructor.name}: ${e.code ?? ''} ${e.message}`)
  } finally {
    await session.close()
    await driver.close()
  }
}

await Promise.all(Array.from({ length: Number(clients) }, (_, c) => client(c)))
process.stdout.write(JSON.stringify(out) + '\n')
