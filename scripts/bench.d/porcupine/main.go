// Porcupine (github.com/anishathalye/porcupine) on Testcar's JSONL register histories, for
// `make bench` (scripts/bench.d/10-consistency.sh): prints one line per history with
// porcupine's verdict (Ok, Illegal, Unknown = its timeout ran out), time and peak heap.
//
// Usage: porcupine-bench <timeout seconds> <history.jsonl[.gz]>...
package main

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

type line struct {
	History *string         `json:"history"`
	Client  int             `json:"client"`
	Op      string          `json:"op"`
	Value   json.RawMessage `json:"value"`
	Call    int64           `json:"call"`
	Return  *int64          `json:"return"`
	Status  string          `json:"status"`
	Output  json.RawMessage `json:"output"`
}

// Register input: 0 read, 1 write, 2 cas. Values are interned; 0 is nil.
type input struct {
	op      int
	arg, to int
	unknown bool
}

type output struct {
	value int
	ok    bool
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: porcupine-bench <timeout seconds> <history.jsonl[.gz]>...")
		os.Exit(2)
	}
	secs, err := strconv.ParseFloat(os.Args[1], 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, "timeout:", err)
		os.Exit(2)
	}
	for _, path := range os.Args[2:] {
		ops, err := load(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, path+":", err)
			os.Exit(2)
		}
		runtime.GC()
		stop := make(chan struct{})
		peak := make(chan uint64)
		go watchHeap(stop, peak)
		t := time.Now()
		res := porcupine.CheckOperationsTimeout(model(), ops, time.Duration(secs*float64(time.Second)))
		el := time.Since(t)
		close(stop)
		fmt.Printf("porcupine %s: %s in %.3f s, peak heap %.1f MiB\n", path, res, el.Seconds(), float64(<-peak)/(1<<20))
	}
}

// watchHeap samples the Go heap (HeapSys) every 10 ms: Go has no per-call peak figure.
func watchHeap(stop chan struct{}, peak chan uint64) {
	var m runtime.MemStats
	var max uint64
	for {
		runtime.ReadMemStats(&m)
		if m.HeapInuse > max {
			max = m.HeapInuse
		}
		select {
		case <-stop:
			peak <- max
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func model() porcupine.Model {
	return porcupine.Model{
		Init: func() interface{} { return 0 },
		Step: func(state, in, out interface{}) (bool, interface{}) {
			s, i, o := state.(int), in.(input), out.(output)
			switch i.op {
			case 0:
				return o.value == s, s
			case 1:
				return true, i.arg
			default:
				if i.unknown {
					if s == i.arg {
						return true, i.to
					}
					return true, s
				}
				if o.ok {
					return s == i.arg, i.to
				}
				return s != i.arg, s
			}
		},
	}
}

func load(path string) ([]porcupine.Operation, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		g, err := gzip.NewReader(f)
		if err != nil {
			return nil, err
		}
		r = g
	}
	values := map[string]int{}
	intern := func(raw json.RawMessage) int {
		var s *string
		if len(raw) == 0 || json.Unmarshal(raw, &s) != nil || s == nil {
			return 0
		}
		if v, ok := values[*s]; ok {
			return v
		}
		values[*s] = len(values) + 1
		return len(values)
	}
	var ops []porcupine.Operation
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, err
		}
		if l.History != nil {
			continue
		}
		ret := int64(math.MaxInt64)
		if l.Return != nil && l.Status != "unknown" {
			ret = *l.Return
		}
		var in input
		out := output{ok: l.Status == "ok"}
		switch l.Op {
		case "read":
			if l.Status != "ok" {
				continue
			}
			in.op = 0
			out.value = intern(l.Output)
		case "write":
			if l.Status == "fail" || l.Status == "rejected" {
				continue
			}
			in = input{op: 1, arg: intern(l.Value)}
		case "cas":
			if l.Status == "rejected" {
				continue
			}
			var ft struct{ From, To string }
			if err := json.Unmarshal(l.Value, &ft); err != nil {
				return nil, err
			}
			a, _ := json.Marshal(ft.From)
			b, _ := json.Marshal(ft.To)
			in = input{op: 2, arg: intern(a), to: intern(b), unknown: l.Status == "unknown"}
		default:
			return nil, fmt.Errorf("not a register operation: %q", l.Op)
		}
		ops = append(ops, porcupine.Operation{ClientId: l.Client, Input: in, Call: l.Call, Output: out, Return: ret})
	}
	return ops, sc.Err()
}
