// The runner's pool mode: many clients at once through a transaction-pooling boltgate
// (tests/pool_drivers.rs), the Go twin of tests/py/pool_clients.py.
//
// usage: runner pool URI CLIENTS ROUNDS synthetic|falkordb
//
// A goroutine per client, each with its own driver whose pool holds one connection, so each
// client is one connection to boltgate. Every client connects first; then all start together.
// Client c, round i: against the synthetic server a write transaction `RETURN c*1000+i` and a
// read transaction `RETURN c*1000+500+i`, each checked for its own value (the server's record
// shows which writes it committed); against FalkorDB a write transaction creating
// (:PoolW {client: c, i: i}) and a read transaction counting the client's nodes, which must see
// all its writes so far. Prints {"driver", "clients", "writes", "reads", "errors": [...]} and
// exits 0 (the Rust test checks the counts and the errors).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j/config"
)

type poolRun struct {
	uri           string
	rounds        int
	synthetic     bool
	writes, reads atomic.Int64
	mu            sync.Mutex
	errors        []string
	connected     sync.WaitGroup
	start         chan struct{}
}

// single runs query in tx and returns the one integer of its one record.
func single(ctx context.Context, tx neo4j.ManagedTransaction, query string, params obj) (int64, error) {
	res, err := tx.Run(ctx, query, params)
	if err != nil {
		return 0, err
	}
	rec, err := res.Single(ctx)
	if err != nil {
		return 0, err
	}
	v, ok := rec.Values[0].(int64)
	if !ok {
		return 0, fmt.Errorf("%s returned %T", query, rec.Values[0])
	}
	return v, nil
}

// client c: its own driver, connected, then its rounds once every client is connected.
func (p *poolRun) client(ctx context.Context, c int) (err error) {
	counted := false
	defer func() {
		if !counted {
			p.connected.Done()
		}
	}()
	d, err := neo4j.NewDriverWithContext(p.uri, neo4j.NoAuth(), func(cfg *config.Config) {
		cfg.MaxConnectionPoolSize = 1
		cfg.SocketConnectTimeout = 30 * time.Second
		cfg.ConnectionAcquisitionTimeout = 120 * time.Second
		// No retry: a failed transaction must show, not be run twice.
		cfg.MaxTransactionRetryTime = 0
	})
	if err != nil {
		return err
	}
	defer d.Close(ctx)
	if err := d.VerifyConnectivity(ctx); err != nil {
		return err
	}
	counted = true
	p.connected.Done()
	select {
	case <-p.start:
	case <-time.After(120 * time.Second):
		return fmt.Errorf("the other clients did not connect in time")
	}
	s := d.NewSession(ctx, neo4j.SessionConfig{})
	defer s.Close(ctx)
	for i := 0; i < p.rounds; i++ {
		if err := p.round(ctx, s, c, i); err != nil {
			return err
		}
	}
	return nil
}

func (p *poolRun) round(ctx context.Context, s neo4j.SessionWithContext, c, i int) error {
	if p.synthetic {
		w := int64(c*1000 + i)
		got, err := neo4j.ExecuteWrite(ctx, s, func(tx neo4j.ManagedTransaction) (int64, error) {
			return single(ctx, tx, fmt.Sprintf("RETURN %d", w), nil)
		})
		if err != nil {
			return err
		}
		if got != w {
			return fmt.Errorf("write %d returned %d", w, got)
		}
		p.writes.Add(1)
		r := int64(c*1000 + 500 + i)
		read, err := neo4j.ExecuteRead(ctx, s, func(tx neo4j.ManagedTransaction) (int64, error) {
			return single(ctx, tx, fmt.Sprintf("RETURN %d", r), nil)
		})
		if err != nil {
			return err
		}
		if read != r {
			return fmt.Errorf("read %d returned %d", r, read)
		}
		p.reads.Add(1)
		return nil
	}
	_, err := neo4j.ExecuteWrite(ctx, s, func(tx neo4j.ManagedTransaction) (any, error) {
		res, err := tx.Run(ctx, "CREATE (:PoolW {client: $c, i: $i})", obj{"c": int64(c), "i": int64(i)})
		if err != nil {
			return nil, err
		}
		return res.Consume(ctx)
	})
	if err != nil {
		return err
	}
	p.writes.Add(1)
	n, err := neo4j.ExecuteRead(ctx, s, func(tx neo4j.ManagedTransaction) (int64, error) {
		return single(ctx, tx, "MATCH (n:PoolW {client: $c}) RETURN count(n)", obj{"c": int64(c)})
	})
	if err != nil {
		return err
	}
	if n != int64(i+1) {
		return fmt.Errorf("client %d round %d sees %d of its writes", c, i, n)
	}
	p.reads.Add(1)
	return nil
}

// poolMain is `runner pool URI CLIENTS ROUNDS synthetic|falkordb` (args without "pool"); the
// exit code.
func poolMain(args []string) int {
	usage := "usage: runner pool URI CLIENTS ROUNDS synthetic|falkordb"
	if len(args) != 4 || (args[3] != "synthetic" && args[3] != "falkordb") {
		fmt.Fprintln(os.Stderr, usage)
		return 2
	}
	clients, err1 := strconv.Atoi(args[1])
	rounds, err2 := strconv.Atoi(args[2])
	if err1 != nil || err2 != nil {
		fmt.Fprintln(os.Stderr, usage)
		return 2
	}
	p := &poolRun{uri: args[0], rounds: rounds, synthetic: args[3] == "synthetic", start: make(chan struct{})}
	ctx := context.Background()
	p.connected.Add(clients)
	var done sync.WaitGroup
	for c := 0; c < clients; c++ {
		done.Add(1)
		go func(c int) {
			defer done.Done()
			if err := p.client(ctx, c); err != nil {
				p.mu.Lock()
				p.errors = append(p.errors, fmt.Sprintf("client %d: %T: %v", c, err, err))
				p.mu.Unlock()
			}
		}(c)
	}
	p.connected.Wait()
	close(p.start)
	done.Wait()
	errors := []string{}
	for i, e := range p.errors {
		if i == 10 {
			errors = append(errors, fmt.Sprintf("(and %d more)", len(p.errors)-10))
			break
		}
		errors = append(errors, e)
	}
	line, err := json.Marshal(obj{"driver": "go", "clients": clients, "writes": p.writes.Load(),
		"reads": p.reads.Load(), "errors": errors})
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot encode the results:", err)
		return 1
	}
	fmt.Println(string(line))
	return 0
}
