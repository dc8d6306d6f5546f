// Scenario runner for the official Go driver (neo4j-go-driver/v5). See ../README.md.
//
// usage: runner URI USER PASSWORD CA SCENARIOS
//
// `runner pool ...` runs many clients at once instead (pool.go).
//
// For +s schemes a given CA goes into the driver's TlsConfig.RootCAs, the Go driver's own
// setting for a private CA (it is used only for +s / +ssc schemes).
package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j/config"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j/dbtype"
)

const setupQuery = `
OPTIONAL MATCH (x:BgProbe) WITH count(x) AS existing WHERE existing = 0
CREATE (a:BgProbe {name: 'a', list: [1, 2, 3], score: 1.5, day: date('2024-02-29')}),
       (b:BgProbe:BgTarget {name: 'b'}),
       (c:BgProbe {name: 'c'}),
       (a)-[:BG_LINK {since: 2020, weight: 0.5}]->(b),
       (c)-[:BG_LINK {since: 2021}]->(b)
`

const typesQuery = `
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

type obj = map[string]any

// typesParams: the same parameters in every runner, 70,000 bytes and a map of 2,000 mixed entries.
func typesParams() obj {
	b := make([]byte, 70000)
	for i := range b {
		b[i] = byte((i*7 + 3) % 256)
	}
	large := obj{}
	for i := 0; i < 2000; i++ {
		k := fmt.Sprintf("k%04d", i)
		switch i % 5 {
		case 0:
			large[k] = int64(i)
		case 1:
			large[k] = fmt.Sprintf("v%d", i)
		case 2:
			large[k] = float64(i) + 0.5
		case 3:
			large[k] = []any{int64(i), "x"}
		default:
			large[k] = obj{"i": int64(i)}
		}
	}
	return obj{"bytes": b, "large_map": large}
}

func fl(f float64) obj { return obj{"float": fmt.Sprintf("%016x", math.Float64bits(f))} }

func hms(t time.Time) string {
	return fmt.Sprintf("%02d:%02d:%02d.%09d", t.Hour(), t.Minute(), t.Second(), t.Nanosecond())
}

func ymd(t time.Time) string {
	return fmt.Sprintf("%04d-%02d-%02d", t.Year(), int(t.Month()), t.Day())
}

func canonNode(n dbtype.Node) obj {
	labels := append([]string{}, n.Labels...)
	sort.Strings(labels)
	return obj{"node": obj{"element_id": n.ElementId, "labels": labels, "props": canon(n.Props)}}
}

func canonRel(r dbtype.Relationship) obj {
	return obj{"relationship": obj{"element_id": r.ElementId, "type": r.Type,
		"start": r.StartElementId, "end": r.EndElementId, "props": canon(r.Props)}}
}

func canon(v any) any {
	switch x := v.(type) {
	case nil, bool, string:
		return x
	case int64:
		return obj{"int": fmt.Sprint(x)}
	case float64:
		return fl(x)
	case []byte:
		sum := sha256.Sum256(x)
		return obj{"bytes": obj{"len": len(x), "sha256": hex.EncodeToString(sum[:])}}
	case dbtype.Node:
		return canonNode(x)
	case dbtype.Relationship:
		return canonRel(x)
	case dbtype.Path:
		nodes := []any{}
		for _, n := range x.Nodes {
			nodes = append(nodes, canonNode(n))
		}
		rels := []any{}
		for _, r := range x.Relationships {
			rels = append(rels, canonRel(r))
		}
		return obj{"path": obj{"nodes": nodes, "relationships": rels}}
	case time.Time:
		_, off := x.Zone()
		var zone any
		// The driver names the location of an offset-only value "Offset"; a zone id keeps its name.
		if name := x.Location().String(); name != "Offset" {
			zone = name
		}
		return obj{"datetime": ymd(x) + "T" + hms(x), "offset_seconds": off, "zone": zone}
	case dbtype.LocalDateTime:
		t := time.Time(x)
		return obj{"local_datetime": ymd(t) + "T" + hms(t)}
	case dbtype.Date:
		return obj{"date": ymd(time.Time(x))}
	case dbtype.Time:
		t := time.Time(x)
		_, off := t.Zone()
		return obj{"time": hms(t), "offset_seconds": off}
	case dbtype.LocalTime:
		return obj{"local_time": hms(time.Time(x))}
	case dbtype.Duration:
		return obj{"duration": obj{"months": x.Months, "days": x.Days, "seconds": x.Seconds, "nanoseconds": x.Nanos}}
	case dbtype.Point2D:
		return obj{"point": obj{"srid": x.SpatialRefId, "x": fl(x.X), "y": fl(x.Y)}}
	case dbtype.Point3D:
		return obj{"point": obj{"srid": x.SpatialRefId, "x": fl(x.X), "y": fl(x.Y), "z": fl(x.Z)}}
	case []any:
		out := []any{}
		for _, e := range x {
			out = append(out, canon(e))
		}
		return out
	case map[string]any:
		out := obj{}
		for k, e := range x {
			out[k] = canon(e)
		}
		return out
	}
	panic(fmt.Sprintf("no canonical form for %T: %v", v, v))
}

type runner struct {
	ctx   context.Context
	d     neo4j.DriverWithContext
	token string
}

func (r *runner) session(bookmarks neo4j.Bookmarks) neo4j.SessionWithContext {
	return r.d.NewSession(r.ctx, neo4j.SessionConfig{Bookmarks: bookmarks})
}

func (r *runner) info() (any, error) {
	s := r.session(nil)
	defer s.Close(r.ctx)
	res, err := s.Run(r.ctx, "RETURN 1", nil)
	if err != nil {
		return nil, err
	}
	sum, err := res.Consume(r.ctx)
	if err != nil {
		return nil, err
	}
	v := sum.Server().ProtocolVersion()
	return obj{"agent": sum.Server().Agent(), "protocol": fmt.Sprintf("%d.%d", v.Major, v.Minor)}, nil
}

func (r *runner) writeTx() (any, error) {
	s := r.session(nil)
	defer s.Close(r.ctx)
	out, err := s.ExecuteWrite(r.ctx, func(tx neo4j.ManagedTransaction) (any, error) {
		res, err := tx.Run(r.ctx, "CREATE (n:BgWrite {token: $t}) RETURN n.token AS t", obj{"t": r.token})
		if err != nil {
			return nil, err
		}
		rec, err := res.Single(r.ctx)
		if err != nil {
			return nil, err
		}
		sum, err := res.Consume(r.ctx)
		if err != nil {
			return nil, err
		}
		t, _ := rec.Get("t")
		return obj{"returned_token": t == r.token, "nodes_created": sum.Counters().NodesCreated()}, nil
	})
	return out, err
}

func (r *runner) count(bookmarks neo4j.Bookmarks, query string, params obj) (int64, error) {
	s := r.session(bookmarks)
	defer s.Close(r.ctx)
	c, err := s.ExecuteRead(r.ctx, func(tx neo4j.ManagedTransaction) (any, error) {
		res, err := tx.Run(r.ctx, query, params)
		if err != nil {
			return nil, err
		}
		rec, err := res.Single(r.ctx)
		if err != nil {
			return nil, err
		}
		return rec.Values[0], nil
	})
	if err != nil {
		return 0, err
	}
	return c.(int64), nil
}

func (r *runner) readTx() (any, error) {
	c, err := r.count(nil, "MATCH (n:BgWrite {token: $t}) RETURN count(n) AS c", obj{"t": r.token})
	return obj{"count": c}, err
}

func (r *runner) autoCommit() (any, error) {
	s := r.session(nil)
	defer s.Close(r.ctx)
	res, err := s.Run(r.ctx, "RETURN $x * 2 AS y", obj{"x": 21})
	if err != nil {
		return nil, err
	}
	rec, err := res.Single(r.ctx)
	if err != nil {
		return nil, err
	}
	return obj{"y": rec.Values[0]}, nil
}

func (r *runner) bookmarks() (any, error) {
	token := fmt.Sprintf("bm-%d", time.Now().UnixNano())
	s := r.session(nil)
	_, err := s.ExecuteWrite(r.ctx, func(tx neo4j.ManagedTransaction) (any, error) {
		res, err := tx.Run(r.ctx, "CREATE (:BgBookmark {token: $t})", obj{"t": token})
		if err != nil {
			return nil, err
		}
		return res.Consume(r.ctx)
	})
	bms := s.LastBookmarks()
	s.Close(r.ctx)
	if err != nil {
		return nil, err
	}
	c, err := r.count(bms, "MATCH (n:BgBookmark {token: $t}) RETURN count(n) AS c", obj{"t": token})
	return obj{"bookmarks": len(bms), "count": c}, err
}

func (r *runner) cypherError() (any, error) {
	s := r.session(nil)
	defer s.Close(r.ctx)
	var code any
	res, err := s.Run(r.ctx, "RETURN 1 +", nil)
	if err == nil {
		_, err = res.Consume(r.ctx)
	}
	if e, ok := err.(*neo4j.Neo4jError); ok {
		code = e.Code
	} else if err != nil {
		return nil, err
	}
	res, err = s.Run(r.ctx, "RETURN 7 AS x", nil)
	if err != nil {
		return nil, err
	}
	rec, err := res.Single(r.ctx)
	if err != nil {
		return nil, err
	}
	return obj{"code": code, "after": rec.Values[0]}, nil
}

func (r *runner) rows100k() (any, error) {
	s := r.session(nil)
	defer s.Close(r.ctx)
	res, err := s.Run(r.ctx, "UNWIND range(1, 100000) AS i RETURN i, 'row-' + toString(i) AS s", nil)
	if err != nil {
		return nil, err
	}
	rows, sum := 0, int64(0)
	for res.Next(r.ctx) {
		rows++
		sum += res.Record().Values[0].(int64)
	}
	if err := res.Err(); err != nil {
		return nil, err
	}
	return obj{"rows": rows, "sum": fmt.Sprint(sum)}, nil
}

func (r *runner) types() (any, error) {
	s := r.session(nil)
	defer s.Close(r.ctx)
	res, err := s.Run(r.ctx, typesQuery, typesParams())
	if err != nil {
		return nil, err
	}
	rec, err := res.Single(r.ctx)
	if err != nil {
		return nil, err
	}
	out := obj{}
	for i, k := range rec.Keys {
		out[k] = canon(rec.Values[i])
	}
	return out, nil
}

func (r *runner) setup() (any, error) {
	s := r.session(nil)
	defer s.Close(r.ctx)
	res, err := s.Run(r.ctx, setupQuery, nil)
	if err != nil {
		return nil, err
	}
	sum, err := res.Consume(r.ctx)
	if err != nil {
		return nil, err
	}
	return obj{"nodes_created": sum.Counters().NodesCreated()}, nil
}

// routing does tests/py/routing.py's work: 3 write transactions, then 8 reads chained on their
// bookmarks.
func (r *runner) routing() (any, error) {
	var writes, reads int64
	s := r.session(nil)
	for i := 0; i < 3; i++ {
		v, err := neo4j.ExecuteWrite(r.ctx, s, func(tx neo4j.ManagedTransaction) (int64, error) {
			res, err := tx.Run(r.ctx, "RETURN 1", nil)
			if err != nil {
				return 0, err
			}
			rec, err := res.Single(r.ctx)
			if err != nil {
				return 0, err
			}
			return rec.Values[0].(int64), nil
		})
		if err != nil {
			s.Close(r.ctx)
			return nil, err
		}
		writes += v
	}
	bms := s.LastBookmarks()
	s.Close(r.ctx)
	rs := r.d.NewSession(r.ctx, neo4j.SessionConfig{Bookmarks: bms, AccessMode: neo4j.AccessModeRead})
	defer rs.Close(r.ctx)
	for i := 0; i < 8; i++ {
		v, err := neo4j.ExecuteRead(r.ctx, rs, func(tx neo4j.ManagedTransaction) (int64, error) {
			res, err := tx.Run(r.ctx, "RETURN 2", nil)
			if err != nil {
				return 0, err
			}
			rec, err := res.Single(r.ctx)
			if err != nil {
				return 0, err
			}
			return rec.Values[0].(int64), nil
		})
		if err != nil {
			return nil, err
		}
		reads += v / 2
	}
	raw := neo4j.BookmarksToRawValues(bms)
	sort.Strings(raw)
	return obj{"writes": writes, "reads": reads, "bookmarks": raw}, nil
}

// crash runs RETURN 1, then CRASH (the scripted server stops on it), and reports the error.
func (r *runner) crash() (any, error) {
	s := r.session(nil)
	defer s.Close(r.ctx)
	res, err := s.Run(r.ctx, "RETURN 1", nil)
	if err != nil {
		return nil, err
	}
	rec, err := res.Single(r.ctx)
	if err != nil {
		return nil, err
	}
	out := obj{"first": rec.Values[0]}
	res, err = s.Run(r.ctx, "CRASH", nil)
	if err == nil {
		_, err = res.Consume(r.ctx)
	}
	if err == nil {
		out["error_class"] = nil
		return out, nil
	}
	out["error_class"] = fmt.Sprintf("%T", err)
	out["connectivity"] = neo4j.IsConnectivityError(err)
	var n4e *neo4j.Neo4jError
	if errors.As(err, &n4e) {
		out["code"] = n4e.Code
	}
	return out, nil
}

func (r *runner) run(name string) (out any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	switch name {
	case "info":
		return r.info()
	case "write_tx":
		return r.writeTx()
	case "read_tx":
		return r.readTx()
	case "auto_commit":
		return r.autoCommit()
	case "bookmarks":
		return r.bookmarks()
	case "cypher_error":
		return r.cypherError()
	case "rows_100k":
		return r.rows100k()
	case "types":
		return r.types()
	case "setup":
		return r.setup()
	case "routing":
		return r.routing()
	case "crash":
		return r.crash()
	}
	return nil, fmt.Errorf("unknown scenario %s", name)
}

// driverVersion is the driver module's version this binary was built with.
func driverVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, m := range info.Deps {
			if m.Path == "github.com/neo4j/neo4j-go-driver/v5" {
				return m.Version
			}
		}
	}
	return "unknown"
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "pool" {
		os.Exit(poolMain(os.Args[2:]))
	}
	if len(os.Args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: runner URI USER PASSWORD CA SCENARIOS")
		os.Exit(2)
	}
	uri, user, password, ca, scenarios := os.Args[1], os.Args[2], os.Args[3], os.Args[4], os.Args[5]
	var tlsConfig *tls.Config
	if ca != "-" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			fmt.Fprintln(os.Stderr, "cannot read the CA:", err)
			os.Exit(2)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			fmt.Fprintln(os.Stderr, "no certificate in", ca)
			os.Exit(2)
		}
		tlsConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	ctx := context.Background()
	d, err := neo4j.NewDriverWithContext(uri, neo4j.BasicAuth(user, password, ""), func(c *config.Config) {
		c.SocketConnectTimeout = 15 * time.Second
		c.MaxTransactionRetryTime = 5 * time.Second
		c.TlsConfig = tlsConfig
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot create the driver:", err)
		os.Exit(1)
	}
	r := &runner{ctx: ctx, d: d, token: fmt.Sprintf("go-%d", time.Now().UnixNano())}
	results := obj{}
	for _, name := range strings.Split(scenarios, ",") {
		out, err := r.run(name)
		if err != nil {
			results[name] = obj{"error": err.Error()}
		} else {
			results[name] = out
		}
	}
	d.Close(ctx)
	line, err := json.Marshal(obj{"driver": "go", "driver_version": driverVersion(), "results": results})
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot encode the results:", err)
		os.Exit(1)
	}
	fmt.Println(string(line))
}
