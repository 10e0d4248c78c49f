// A driver that times Porcupine (github.com/anishathalye/porcupine) on the corpus, for
// bench/linearizable.py, which builds it against the Porcupine source in
// ../shared/anchors/porcupine and talks to it over stdin/stdout, one JSON object a line:
//
//	{"cmd": "load", "name": "etcd_000", "model": "etcd", "path": "/.../etcd_000.log"}
//	  -> {"events": 170}
//	{"cmd": "check", "names": ["etcd_000", "etcd_001"]}
//	  -> {"wall_ns": 123456, "cpu_ns": 120000, "verdicts": ["illegal", "ok"]}
//
// "check" times CheckEvents on each named history in turn, once, as one measurement (wall
// time, and the CPU time of this process: every goroutine Porcupine starts). Parsing is done
// at "load", outside the timing, as the Python side parses outside its own.
//
// The models and parsers are written here from Porcupine's own tests (porcupine_test.go):
// the etcd register (a :fail cas took effect as a failed compare, an :info op or one never
// completed returns "unknown" at the end) and the kv store partitioned per key.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/anishathalye/porcupine"
)

type etcdInput struct {
	op   uint8 // 0 read, 1 write, 2 cas
	arg1 int
	arg2 int
}

type etcdOutput struct {
	ok      bool
	exists  bool
	value   int
	unknown bool
}

const etcdNil = -1000000

var etcdModel = porcupine.Model{
	Init: func() interface{} { return etcdNil },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		st := state.(int)
		in := input.(etcdInput)
		out := output.(etcdOutput)
		switch in.op {
		case 0:
			ok := (!out.exists && st == etcdNil) || (out.exists && st == out.value) || out.unknown
			return ok, state
		case 1:
			return true, in.arg1
		default:
			ok := (in.arg1 == st && out.ok) || (in.arg1 != st && !out.ok) || out.unknown
			next := st
			if in.arg1 == st {
				next = in.arg2
			}
			return ok, next
		}
	},
}

type kvInput struct {
	op    uint8 // 0 get, 1 put, 2 append
	key   string
	value string
}

type kvOutput struct {
	value string
}

var kvModel = porcupine.Model{
	PartitionEvent: func(history []porcupine.Event) [][]porcupine.Event {
		byKey := make(map[string][]porcupine.Event)
		keyOf := make(map[int]string)
		for _, e := range history {
			if e.Kind == porcupine.CallEvent {
				k := e.Value.(kvInput).key
				keyOf[e.Id] = k
				byKey[k] = append(byKey[k], e)
			} else {
				k := keyOf[e.Id]
				byKey[k] = append(byKey[k], e)
			}
		}
		keys := make([]string, 0, len(byKey))
		for k := range byKey {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Event, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() interface{} { return "" },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		in := input.(kvInput)
		st := state.(string)
		switch in.op {
		case 0:
			return output.(kvOutput).value == st, state
		case 1:
			return true, in.value
		default:
			return true, st + in.value
		}
	},
	Hash: func(state interface{}) uint64 {
		h := fnv.New64a()
		h.Write([]byte(state.(string)))
		return h.Sum64()
	},
}

// history builds events, pairing each completion with its process' pending call.
type history struct {
	events  []porcupine.Event
	pending map[int]int
	next    int
}

func newHistory() *history { return &history{pending: make(map[int]int)} }

func (h *history) call(proc int, v interface{}) {
	h.events = append(h.events, porcupine.Event{ClientId: proc, Kind: porcupine.CallEvent, Value: v, Id: h.next})
	h.pending[proc] = h.next
	h.next++
}

func (h *history) ret(proc int, v interface{}) {
	id, ok := h.pending[proc]
	if !ok {
		return
	}
	delete(h.pending, proc)
	h.events = append(h.events, porcupine.Event{ClientId: proc, Kind: porcupine.ReturnEvent, Value: v, Id: id})
}

// finish returns every call still pending (an :info op, or one never completed) at the end.
func (h *history) finish(unknown interface{}) []porcupine.Event {
	procs := make([]int, 0, len(h.pending))
	for p := range h.pending {
		procs = append(procs, p)
	}
	sort.Ints(procs)
	for _, p := range procs {
		h.ret(p, unknown)
	}
	return h.events
}

// parseEtcd reads Jepsen log lines: "INFO  jepsen.util - <process>\t:<type>\t:<f>\t<value>".
func parseEtcd(path string) ([]porcupine.Event, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	h := newHistory()
	for _, line := range strings.Split(string(data), "\n") {
		i := strings.Index(line, "jepsen.util - ")
		if i < 0 {
			continue
		}
		fields := strings.Split(line[i+len("jepsen.util - "):], "\t")
		if len(fields) < 4 {
			continue
		}
		proc, err := strconv.Atoi(strings.TrimSpace(fields[0]))
		if err != nil {
			return nil, fmt.Errorf("%s: bad process in %q", path, line)
		}
		typ, f, value := fields[1], fields[2], strings.TrimSpace(fields[3])
		switch {
		case typ == ":invoke" && f == ":read":
			h.call(proc, etcdInput{op: 0})
		case typ == ":invoke" && f == ":write":
			v, _ := strconv.Atoi(value)
			h.call(proc, etcdInput{op: 1, arg1: v})
		case typ == ":invoke" && f == ":cas":
			a, b := casArgs(value)
			h.call(proc, etcdInput{op: 2, arg1: a, arg2: b})
		case typ == ":ok" && f == ":read":
			if value == "nil" {
				h.ret(proc, etcdOutput{})
			} else {
				v, _ := strconv.Atoi(value)
				h.ret(proc, etcdOutput{exists: true, value: v})
			}
		case typ == ":ok" && f == ":write":
			h.ret(proc, etcdOutput{})
		case (typ == ":ok" || typ == ":fail") && f == ":cas":
			h.ret(proc, etcdOutput{ok: typ == ":ok"})
		case typ == ":fail" && f == ":read":
			h.ret(proc, etcdOutput{unknown: true})
		}
	}
	return h.finish(etcdOutput{unknown: true}), nil
}

func casArgs(v string) (int, int) {
	parts := strings.Fields(strings.Trim(v, "[]"))
	if len(parts) != 2 {
		return 0, 0
	}
	a, _ := strconv.Atoi(parts[0])
	b, _ := strconv.Atoi(parts[1])
	return a, b
}

// parseKv reads EDN maps: {:process 2, :type :invoke, :f :get, :key "0", :value nil}.
func parseKv(path string) ([]porcupine.Event, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	h := newHistory()
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "{:process ") {
			continue
		}
		proc, _ := strconv.Atoi(field(line, ":process ", ","))
		typ := field(line, ":type ", ",")
		f := field(line, ":f ", ",")
		key := quoted(line, ":key ")
		value := quoted(line, ":value ")
		if typ == ":invoke" {
			op := map[string]uint8{":get": 0, ":put": 1, ":append": 2}[f]
			h.call(proc, kvInput{op: op, key: key, value: value})
		} else if typ == ":ok" {
			h.ret(proc, kvOutput{value: value})
		}
	}
	return h.finish(kvOutput{}), nil
}

func field(line, prefix, end string) string {
	i := strings.Index(line, prefix)
	if i < 0 {
		return ""
	}
	rest := line[i+len(prefix):]
	if j := strings.Index(rest, end); j >= 0 {
		rest = rest[:j]
	}
	return strings.TrimSpace(rest)
}

// quoted reads the string after prefix ("" for nil); the corpus' strings hold no quotes.
func quoted(line, prefix string) string {
	i := strings.Index(line, prefix+"\"")
	if i < 0 {
		return ""
	}
	rest := line[i+len(prefix)+1:]
	return rest[:strings.Index(rest, "\"")]
}

type request struct {
	Cmd   string   `json:"cmd"`
	Name  string   `json:"name"`
	Model string   `json:"model"`
	Path  string   `json:"path"`
	Names []string `json:"names"`
}

type loaded struct {
	model  porcupine.Model
	events []porcupine.Event
}

func cpuNs() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func verdict(r porcupine.CheckResult) string {
	switch r {
	case porcupine.Ok:
		return "ok"
	case porcupine.Illegal:
		return "illegal"
	default:
		return "unknown"
	}
}

func main() {
	histories := make(map[string]loaded)
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<26)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			_ = out.Encode(map[string]string{"error": err.Error()})
			continue
		}
		switch req.Cmd {
		case "load":
			var events []porcupine.Event
			var err error
			var model porcupine.Model
			if req.Model == "etcd" {
				model = etcdModel
				events, err = parseEtcd(req.Path)
			} else {
				model = kvModel
				events, err = parseKv(req.Path)
			}
			if err != nil {
				_ = out.Encode(map[string]string{"error": err.Error()})
				continue
			}
			histories[req.Name] = loaded{model, events}
			_ = out.Encode(map[string]int{"events": len(events)})
		case "check":
			todo := make([]loaded, 0, len(req.Names))
			for _, n := range req.Names {
				todo = append(todo, histories[n])
			}
			runtime.GC() // outside the timing, as the Python side collects before its own
			verdicts := make([]string, len(todo))
			c0, t0 := cpuNs(), time.Now()
			for i, h := range todo {
				verdicts[i] = verdict(porcupine.CheckEventsTimeout(h.model, h.events, 0))
			}
			wall, cpu := time.Since(t0).Nanoseconds(), cpuNs()-c0
			_ = out.Encode(map[string]interface{}{"wall_ns": wall, "cpu_ns": cpu, "verdicts": verdicts})
		default:
			_ = out.Encode(map[string]string{"error": "unknown command " + req.Cmd})
		}
	}
}
