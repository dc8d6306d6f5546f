// The same work as ../legacy.py with an official JavaScript driver (1.7, 4.2 or the current
// one, installed under aliases by package.json), results in a driver-independent form.
// usage: node legacy.js <neo4j-driver-1.7|neo4j-driver-4.2|neo4j-driver-current> URI
//        [--user U --password P] [--temporal] [--rollback]
// Prints one JSON line {"driver", "results"}; an unexpected error exits 1 with it on stderr.
'use strict'

const [name, uri, ...rest] = process.argv.slice(2)
const flag = f => rest.includes(f)
const opt = o => (rest.indexOf(o) >= 0 ? rest[rest.indexOf(o) + 1] : undefined)
let neo4j = require(name)
if (neo4j.v1) neo4j = neo4j.v1 // 1.x exports its API under v1

function norm (v) {
  if (v === null || v === undefined) return null
  if (neo4j.isInt && neo4j.isInt(v)) return v.toNumber()
  if (typeof v === 'number') return Number.isInteger(v) ? { float: v.toFixed(1) } : { float: String(v) }
  if (typeof v === 'string' || typeof v === 'boolean') return v
  if (Array.isArray(v)) return v.map(norm)
  if (v.segments !== undefined && v.start !== undefined) {
    const nodes = [norm(v.start)].concat(v.segments.map(s => norm(s.end)))
    return { path: nodes, rels: v.segments.map(s => norm(s.relationship)) }
  }
  if (v.labels !== undefined && v.properties !== undefined) {
    return { node: [...v.labels].sort(), props: norm(v.properties) }
  }
  if (v.type !== undefined && v.properties !== undefined) return { rel: v.type, props: norm(v.properties) }
  if (v.srid !== undefined) {
    const c = [v.x, v.y].concat(v.z === undefined ? [] : [v.z])
    return { point: norm(v.srid), coords: c.map(x => ({ float: Number.isInteger(x) ? x.toFixed(1) : String(x) })) }
  }
  if (v.months !== undefined && v.days !== undefined) {
    return { duration: [norm(v.months), norm(v.days), norm(v.seconds)] }
  }
  if (v.year !== undefined || v.hour !== undefined) {
    const s = v.toString()
    const m = s.match(/^(\d{4}-\d{2}-\d{2})?T?(\d{2}:\d{2}:\d{2})?/)
    const out = { temporal: v.constructor.name, iso: [m[1], m[2]].filter(Boolean).join(' ') }
    // With a zone id, older drivers leave the offset unset (Bolt before 5.0 does not carry it):
    // the zone is compared, not the offset.
    if (v.timeZoneId) out.zone = v.timeZoneId
    else if (v.timeZoneOffsetSeconds !== undefined && v.timeZoneOffsetSeconds !== null) out.offset = norm(v.timeZoneOffsetSeconds)
    return out
  }
  if (typeof v === 'object') {
    const o = {}
    for (const k of Object.keys(v).sort()) o[k] = norm(v[k])
    return o
  }
  return { other: typeof v }
}

const rows = r => r.records.map(rec => {
  const o = {}
  rec.keys.forEach((k, i) => { o[k] = norm(rec.get(i)) })
  return o
})

async function scenarios (driver) {
  const out = {}
  const s = driver.session()
  out.auto_commit = rows(await s.run("RETURN 1 AS i, 'a' AS s, 2.5 AS f, true AS b, null AS n, [1, 'x', [2]] AS l, {k: 'v', n: {m: 1}} AS m"))
  out.params = rows(await s.run('RETURN $i AS i, $s AS s, $l AS l, $m AS m',
    { i: neo4j.int(-129), s: 'h\u00e9llo', l: [neo4j.int(1), neo4j.int(2), [neo4j.int(3)]], m: { a: { b: null } } }))
  await s.run('MATCH (n:Legacy) DETACH DELETE n')
  const tx = s.beginTransaction()
  await tx.run("CREATE (:Legacy {name: 'a', k: 1})-[:KNOWS {since: 2020}]->(:Legacy {name: 'b', k: 2})")
  await tx.commit()
  const bm = s.lastBookmarks ? s.lastBookmarks() : s.lastBookmark()
  out.explicit_tx_bookmark = Boolean(bm && String(bm).length)
  const count = t => t.run('MATCH (n:Legacy) RETURN count(n) AS c').then(r => norm(r.records[0].get('c')))
  out.tx_function_read = await (s.executeRead ? s.executeRead(count) : s.readTransaction(count))
  const add = t => t.run("CREATE (:Legacy {name: 'c', k: 3})").then(() => true)
  out.tx_function_write = await (s.executeWrite ? s.executeWrite(add) : s.writeTransaction(add))
  out.after_write = await (s.executeRead ? s.executeRead(count) : s.readTransaction(count))
  out.graph = rows(await s.run("MATCH (a:Legacy {name: 'a'})-[r:KNOWS]->(b:Legacy) RETURN a, r, b"))
  out.path = rows(await s.run("MATCH p = (:Legacy {name: 'a'})-[:KNOWS]->(:Legacy) RETURN p"))
  try {
    await s.run('RETURN 1 +')
    out.error = 'no error'
  } catch (e) {
    out.error = 'raised'
  }
  out.after_error = rows(await s.run('RETURN 2 AS two'))
  if (flag('--rollback')) {
    const tx = s.beginTransaction()
    await tx.run("CREATE (:Legacy {name: 'rolled back'})")
    await tx.rollback()
    out.after_rollback = rows(await s.run('MATCH (n:Legacy) RETURN count(n) AS c'))
  }
  if (flag('--temporal')) {
    out.temporal = rows(await s.run(
      "RETURN date('2024-01-02') AS d, localtime('03:04:05') AS lt, time('03:04:05+01:00') AS t, " +
      "localdatetime('2024-01-02T03:04:05') AS ldt, datetime('2024-01-02T03:04:05+01:00') AS dt, " +
      "datetime('2024-07-02T03:04:05[Europe/Paris]') AS dtz, duration('P1Y2M3DT4H5M6S') AS du, " +
      'point({x: 1.5, y: 2.5}) AS p2, point({x: 1, y: 2, z: 3}) AS p3, ' +
      'point({latitude: 50.5, longitude: 4.25}) AS geo'))
    const dt = (await s.run("RETURN datetime('2024-01-02T03:04:05+01:00') AS dt")).records[0].get('dt')
    out.temporal_param = rows(await s.run("RETURN $dt AS dt, $dt = datetime('2024-01-02T03:04:05+01:00') AS same", { dt }))
  }
  await s.run('MATCH (n:Legacy) DETACH DELETE n')
  await new Promise(resolve => { const p = s.close(resolve); if (p && p.then) p.then(resolve) })
  return out
}

async function main () {
  const auth = opt('--user') ? neo4j.auth.basic(opt('--user'), opt('--password') || '') : undefined
  const config = name === 'neo4j-driver-1.7' ? { encrypted: false } : {}
  const driver = neo4j.driver(uri, auth, config)
  try {
    const results = await scenarios(driver)
    console.log(JSON.stringify({ driver: name, results }))
  } finally {
    await driver.close()
  }
}

main().then(() => process.exit(0), e => { console.error(e); process.exit(1) })
