// Scenario runner for the official JavaScript driver (neo4j-driver). See ../README.md.
//
// usage: node runner.mjs URI USER PASSWORD CA SCENARIOS
//
// For +s schemes the driver checks the server against Node's CA store; the test CA reaches it
// through NODE_EXTRA_CA_CERTS (read by Node at start-up, so the caller sets it), the way a
// Node user trusts a private CA. The driver refuses `trustedCertificates` with a +s scheme.

import { createHash, randomUUID } from 'node:crypto'
import { createRequire } from 'node:module'
import neo4j from 'neo4j-driver'

const require = createRequire(import.meta.url)
const DRIVER_VERSION = require('neo4j-driver/package.json').version

const SETUP = `
OPTIONAL MATCH (x:BgProbe) WITH count(x) AS existing WHERE existing = 0
CREATE (a:BgProbe {name: 'a', list: [1, 2, 3], score: 1.5, day: date('2024-02-29')}),
       (b:BgProbe:BgTarget {name: 'b'}),
       (c:BgProbe {name: 'c'}),
       (a)-[:BG_LINK {since: 2020, weight: 0.5}]->(b),
       (c)-[:BG_LINK {since: 2021}]->(b)
`

const TYPES = `
MATCH p = (a:BgProbe {name: 'a'})-[r:BG_LINK]->(:BgProbe {name: 'b'})<-[:BG_LINK]-(:BgProbe {name: 'c'})
RETURN a AS node, r AS relationship, p AS path,
  null AS null_value, true AS boolean,
  -9223372036854775807 - 1 AS int_min, 9223372036854775807 AS int_max,
  1.5 AS float, 1.7976931348623157e308 AS float_max, -0.0 AS float_negative_zero,
  'grüß 🙂' AS string, [1, 'two', [3.0], {four: 4}] AS list,
  date('2024-02-29') AS date,
  localtime('12:34:56.123456789') AS local_time,
  time('12:34:56.123456789+01:30') AS time,
  localdatetime('2024-02-29T12:34:56.123456789') AS local_datetime,
  datetime('2024-02-29T12:34:56.123456789[Europe/Stockholm]') AS datetime_zone_id,
  datetime('2024-07-01T12:34:56.123456789[Europe/Stockholm]') AS datetime_zone_id_summer,
  datetime('2024-02-29T12:34:56.123456789-05:30') AS datetime_offset,
  datetime('2024-02-29T12:34:56.123456789Z') AS datetime_utc,
  duration({months: 14, days: 3, seconds: 45296, nanoseconds: 789}) AS duration,
  point({x: 1.5, y: -2.25}) AS point_2d,
  point({x: 1.5, y: -2.25, z: 3.0}) AS point_3d,
  point({longitude: 18.07, latitude: 59.33}) AS point_wgs84_2d,
  point({longitude: 18.07, latitude: 59.33, height: 28.0}) AS point_wgs84_3d,
  $bytes AS bytes, $large_map AS large_map
`

// The same parameters in every runner: 70,000 bytes (more than one 64 KiB chunk) and a map
// of 2,000 entries of mixed kinds. Integers go as driver Integers so they stay INTEGER.
function typesParams () {
  // Int8Array is what the driver sends as BYTES.
  const bytes = new Int8Array(70000)
  for (let i = 0; i < bytes.length; i++) bytes[i] = ((i * 7 + 3) % 256) << 24 >> 24
  const large = {}
  for (let i = 0; i < 2000; i++) {
    const k = 'k' + String(i).padStart(4, '0')
    switch (i % 5) {
      case 0: large[k] = neo4j.int(i); break
      case 1: large[k] = 'v' + i; break
      case 2: large[k] = i + 0.5; break
      case 3: large[k] = [neo4j.int(i), 'x']; break
      default: large[k] = { i: neo4j.int(i) }
    }
  }
  return { bytes, large_map: large }
}

const num = (v) => (neo4j.isInt(v) ? v.toNumber() : v)
const pad = (n, w) => String(num(n)).padStart(w, '0')
const hms = (v) => `${pad(v.hour, 2)}:${pad(v.minute, 2)}:${pad(v.second, 2)}.${pad(v.nanosecond, 9)}`
const ymd = (v) => `${pad(v.year, 4)}-${pad(v.month, 2)}-${pad(v.day, 2)}`

function fl (f) {
  const view = new DataView(new ArrayBuffer(8))
  view.setFloat64(0, f)
  return { float: view.getBigUint64(0).toString(16).padStart(16, '0') }
}

function canon (v) {
  if (v === null || v === undefined || typeof v === 'boolean' || typeof v === 'string') return v ?? null
  if (neo4j.isInt(v)) return { int: v.toString() }
  if (typeof v === 'bigint') return { int: v.toString() }
  if (typeof v === 'number') return fl(v)
  if (v instanceof Int8Array || v instanceof Uint8Array) {
    const b = Buffer.from(v.buffer, v.byteOffset, v.byteLength)
    return { bytes: { len: b.length, sha256: createHash('sha256').update(b).digest('hex') } }
  }
  if (neo4j.isNode(v)) {
    return { node: { element_id: v.elementId, labels: [...v.labels].sort(), props: canon(v.properties) } }
  }
  if (neo4j.isRelationship(v)) {
    return {
      relationship: {
        element_id: v.elementId,
        type: v.type,
        start: v.startNodeElementId,
        end: v.endNodeElementId,
        props: canon(v.properties)
      }
    }
  }
  if (neo4j.isPath(v)) {
    const nodes = [v.start, ...v.segments.map((s) => s.end)]
    return { path: { nodes: nodes.map(canon), relationships: v.segments.map((s) => canon(s.relationship)) } }
  }
  if (neo4j.isDateTime(v)) {
    return {
      datetime: `${ymd(v)}T${hms(v)}`,
      offset_seconds: num(v.timeZoneOffsetSeconds),
      zone: v.timeZoneId ?? null
    }
  }
  if (neo4j.isLocalDateTime(v)) return { local_datetime: `${ymd(v)}T${hms(v)}` }
  if (neo4j.isDate(v)) return { date: ymd(v) }
  if (neo4j.isTime(v)) return { time: hms(v), offset_seconds: num(v.timeZoneOffsetSeconds) }
  if (neo4j.isLocalTime(v)) return { local_time: hms(v) }
  if (neo4j.isDuration(v)) {
    return {
      duration: {
        months: num(v.months),
        days: num(v.days),
        seconds: num(v.seconds),
        nanoseconds: num(v.nanoseconds)
      }
    }
  }
  if (neo4j.isPoint(v)) {
    const p = { srid: num(v.srid), x: fl(v.x), y: fl(v.y) }
    if (v.z !== undefined) p.z = fl(v.z)
    return { point: p }
  }
  if (Array.isArray(v)) return v.map(canon)
  if (typeof v === 'object') {
    const out = {}
    for (const k of Object.keys(v).sort()) out[k] = canon(v[k])
    return out
  }
  throw new Error(`no canonical form for ${v}`)
}

class Runner {
  constructor (driver) {
    this.d = driver
    this.token = randomUUID()
  }

  async withSession (config, fn) {
    const s = this.d.session(config)
    try {
      return await fn(s)
    } finally {
      await s.close()
    }
  }

  async info () {
    const summary = await this.withSession({}, (s) => s.run('RETURN 1').summary())
    const v = summary.server.protocolVersion
    const major = Math.floor(v)
    const minor = Math.round((v - major) * 10)
    return { agent: summary.server.agent, protocol: `${major}.${minor}` }
  }

  async write_tx () {
    return this.withSession({}, async (s) => {
      const [t, created] = await s.executeWrite(async (tx) => {
        const r = await tx.run('CREATE (n:BgWrite {token: $t}) RETURN n.token AS t', { t: this.token })
        return [r.records[0].get('t'), r.summary.counters.updates().nodesCreated]
      })
      return { returned_token: t === this.token, nodes_created: created }
    })
  }

  async read_tx () {
    return this.withSession({}, async (s) => {
      const c = await s.executeRead(async (tx) => {
        const r = await tx.run('MATCH (n:BgWrite {token: $t}) RETURN count(n) AS c', { t: this.token })
        return r.records[0].get('c')
      })
      return { count: num(c) }
    })
  }

  async auto_commit () {
    return this.withSession({}, async (s) => {
      const r = await s.run('RETURN $x * 2 AS y', { x: neo4j.int(21) })
      return { y: num(r.records[0].get('y')) }
    })
  }

  async bookmarks () {
    const token = randomUUID()
    const bms = await this.withSession({}, async (s) => {
      await s.executeWrite((tx) => tx.run('CREATE (:BgBookmark {token: $t})', { t: token }))
      return s.lastBookmarks()
    })
    const c = await this.withSession({ bookmarks: bms }, (s) =>
      s.executeRead(async (tx) => {
        const r = await tx.run('MATCH (n:BgBookmark {token: $t}) RETURN count(n) AS c', { t: token })
        return r.records[0].get('c')
      })
    )
    return { bookmarks: bms.length, count: num(c) }
  }

  async cypher_error () {
    return this.withSession({}, async (s) => {
      let code = null
      try {
        await s.run('RETURN 1 +')
      } catch (e) {
        code = e.code
      }
      const r = await s.run('RETURN 7 AS x')
      return { code, after: num(r.records[0].get('x')) }
    })
  }

  async rows_100k () {
    return this.withSession({}, async (s) => {
      let rows = 0
      let sum = 0n
      const result = s.run("UNWIND range(1, 100000) AS i RETURN i, 'row-' + toString(i) AS s")
      for await (const rec of result) {
        rows++
        sum += BigInt(rec.get('i').toString())
      }
      return { rows, sum: sum.toString() }
    })
  }

  async types () {
    return this.withSession({}, async (s) => {
      const r = await s.run(TYPES, typesParams())
      if (r.records.length !== 1) throw new Error(`expected 1 record, got ${r.records.length}`)
      const rec = r.records[0]
      const out = {}
      for (const k of rec.keys) out[k] = canon(rec.get(k))
      return out
    })
  }

  async setup () {
    return this.withSession({}, async (s) => {
      const r = await s.run(SETUP)
      return { nodes_created: r.summary.counters.updates().nodesCreated }
    })
  }
}

async function main () {
  const args = process.argv.slice(2)
  if (args.length !== 5) {
    process.stderr.write('usage: node runner.mjs URI USER PASSWORD CA SCENARIOS\n')
    process.exit(2)
  }
  const [uri, user, password, ca, scenarios] = args
  if (ca !== '-' && process.env.NODE_EXTRA_CA_CERTS !== ca) {
    process.stderr.write(`set NODE_EXTRA_CA_CERTS=${ca}: Node reads extra CAs only at start-up\n`)
    process.exit(2)
  }
  let driver
  try {
    driver = neo4j.driver(uri, neo4j.auth.basic(user, password), {
      connectionTimeout: 15000,
      maxTransactionRetryTime: 5000,
      logging: { level: 'error', logger: () => {} }
    })
  } catch (e) {
    process.stderr.write(`cannot create the driver: ${e}\n`)
    process.exit(1)
  }
  const runner = new Runner(driver)
  const results = {}
  for (const name of scenarios.split(',')) {
    try {
      results[name] = await runner[name]()
    } catch (e) {
      results[name] = { error: `${e.code ?? e.name}: ${e.message}` }
    }
  }
  await driver.close()
  process.stdout.write(JSON.stringify({ driver: 'js', driver_version: DRIVER_VERSION, results }) + '\n')
}

main()
