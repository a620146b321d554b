// peer_go: what a user would write instead of a thread-per-connection C server: the idiomatic Go
// server, one goroutine per connection doing blocking conn.Read/conn.Write loops (the Go runtime
// multiplexes them over epoll and GOMAXPROCS threads). A "peer" of echo_server/http_server; it
// always runs natively, never under the shim (it is a static binary: LD_PRELOAD cannot apply).
//
//	-m MODE   echo (default), http, or storm (the sleep_storm peer: -t goroutines, -r sleeps
//	          each, -d sleep length; see storm.go)
//	-p PORT   port to listen on, 127.0.0.1 (default 0 = ephemeral)
//	-f FILE   write the chosen port to FILE (written to FILE.tmp, then renamed); it is also
//	          printed on stderr as "port=N"
//	-T SECS   stop after SECS seconds (default 120; 0 = no limit)
//	-b BYTES  http: body size of the 200 response (default 128)
//	-l N, -s SIZE  accepted for command-line compatibility with the legacy servers, ignored
//	          (Go sizes the backlog from net.core.somaxconn; goroutine stacks grow on demand)
//
// echo: writes back whatever it reads (8 KiB buffer per connection, like echo_server). http:
// byte-for-byte the protocol of http_server.c (same responses and parsing rules, 8 KiB header
// limit -> 400 and close, request bodies discarded, keep-alive rules, pipelined requests answered
// in order, one Write per response).
// Runs until SIGTERM/SIGINT or the time limit, then prints one bench line like the legacy server
// of the mode (echo: metric=connections; http: metric=requests; see peer_libev.c) and exits
// without waiting for connections still open. RLIMIT_NOFILE's soft limit is raised to the hard
// limit. Accept errors EMFILE/ENFILE/ENOBUFS/ENOMEM are counted (accept_errors) and the accept
// loop sleeps 10 ms. ok=1 unless a read/write failed with something other than
// ECONNRESET/EPIPE or Accept failed fatally.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

const reqBuf = 8192

var (
	accepted, closed, active, bytesEchoed, requests, resp200, resp404, badReqs, bytesOut,
	resets, ioErrors, acceptErrors int64

	okKeep, okClose, nfKeep, nfClose, badReq []byte
)

func makeResponse(status, extra string, body []byte) []byte {
	head := fmt.Sprintf("HTTP/1.1 %s\r\nServer: http_server\r\nContent-Type: text/plain\r\n"+
		"Content-Length: %d\r\n%s\r\n", status, len(body), extra)
	return append([]byte(head), body...)
}

func countErr(err error) {
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		atomic.AddInt64(&resets, 1)
	} else if atomic.AddInt64(&ioErrors, 1) == 1 {
		fmt.Fprintf(os.Stderr, "peer_go: socket error: %v\n", err)
	}
}

func serveEcho(c net.Conn) {
	buf := make([]byte, 8192)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				countErr(werr)
				return
			}
			atomic.AddInt64(&bytesEchoed, int64(n))
		}
		if err == io.EOF {
			atomic.AddInt64(&closed, 1)
			return
		}
		if err != nil {
			countErr(err)
			return
		}
	}
}

// isSpace is C's isspace() in the "C" locale.
func isSpace(b byte) bool { return b == ' ' || (b >= '\t' && b <= '\r') }

// strtol(s, NULL, 10) as http_server uses it: leading space, sign, digits, clamped.
func strtol(s []byte) int64 {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	var v int64
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		d := int64(s[i] - '0')
		if v > (1<<63-1-d)/10 {
			if neg {
				return -1 << 63
			}
			return 1<<63 - 1
		}
		v = v*10 + d
	}
	if neg {
		return -v
	}
	return v
}

func lower(b byte) byte {
	if b >= 'A' && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

func hasPrefixFold(s []byte, p string) bool {
	if len(s) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		if lower(s[i]) != p[i] {
			return false
		}
	}
	return true
}

// hasToken: does the header value v contain token (lower case), case-insensitively?
func hasToken(v []byte, token string) bool {
	for i := 0; i+len(token) <= len(v); i++ {
		if hasPrefixFold(v[i:], token) {
			return true
		}
	}
	return false
}

var crlf = []byte("\r\n")
var crlfcrlf = []byte("\r\n\r\n")

func indexCRLF(b []byte) int { return bytes.Index(b, crlf) }

func serveHTTP(c net.Conn) {
	buf := make([]byte, reqBuf)
	have := 0
	// fill reads more; false when the connection is gone (EOF counted as closed).
	fill := func() bool {
		n, err := c.Read(buf[have:])
		have += n
		if n > 0 {
			return true
		}
		if err == io.EOF || err == nil {
			atomic.AddInt64(&closed, 1)
		} else {
			countErr(err)
		}
		return false
	}
	write := func(p []byte) bool {
		n, err := c.Write(p)
		atomic.AddInt64(&bytesOut, int64(n))
		if err != nil {
			countErr(err)
			return false
		}
		return true
	}
	bad := func() {
		atomic.AddInt64(&badReqs, 1)
		write(badReq)
	}
	for {
		end := -1
		for {
			if end = bytes.Index(buf[:have], crlfcrlf); end >= 0 {
				break
			}
			if have == len(buf) { // header too large
				bad()
				return
			}
			if !fill() {
				return
			}
		}
		hlen := end + 4
		req := buf[:hlen]
		lineEnd := indexCRLF(req)
		line := req[:lineEnd]
		sp1 := bytes.IndexByte(line, ' ')
		sp2 := -1
		if sp1 >= 0 {
			if k := bytes.IndexByte(line[sp1+1:], ' '); k >= 0 {
				sp2 = sp1 + 1 + k
			}
		}
		if sp1 < 0 || sp2 < 0 || lineEnd-sp2-1 != 8 || string(line[sp2+1:sp2+8]) != "HTTP/1." {
			bad()
			return
		}
		keep := line[sp2+8] == '1'
		var body int64
		for h := lineEnd + 2; h < end; {
			eol := h + indexCRLF(buf[h:end+2])
			hdr := buf[h:eol]
			if colon := bytes.IndexByte(hdr, ':'); colon >= 0 {
				if colon == 10 && hasPrefixFold(hdr, "connection") {
					if hasToken(hdr[colon+1:], "close") {
						keep = false
					} else if hasToken(hdr[colon+1:], "keep-alive") {
						keep = true
					}
				} else if colon == 14 && hasPrefixFold(hdr, "content-length") {
					body = strtol(buf[h+colon+1 : hlen]) // stops at the CR, like strtol
				}
			}
			h = eol + 2
		}
		found := sp1 == 3 && string(line[:3]) == "GET" && sp2-sp1 == 2 && line[sp1+1] == '/'
		var r []byte
		switch {
		case found && keep:
			r = okKeep
		case found:
			r = okClose
		case keep:
			r = nfKeep
		default:
			r = nfClose
		}
		if body < 0 {
			bad()
			return
		}
		// drop the header, then the body (part of it may be buffered already)
		have = copy(buf, buf[hlen:have])
		for body > 0 {
			if have > 0 {
				k := have
				if body < int64(k) {
					k = int(body)
				}
				have = copy(buf, buf[k:have])
				body -= int64(k)
			} else if !fill() {
				return
			}
		}
		if !write(r) {
			return
		}
		atomic.AddInt64(&requests, 1)
		if found {
			atomic.AddInt64(&resp200, 1)
		} else {
			atomic.AddInt64(&resp404, 1)
		}
		if !keep {
			atomic.AddInt64(&closed, 1)
			return
		}
	}
}

func publishPort(port int, file string) {
	fmt.Fprintf(os.Stderr, "port=%d\n", port)
	if file == "" {
		return
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(port)+"\n"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := os.Rename(tmp, file); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}

// preloaded: 1 if the object named by $LD_PRELOAD is mapped (never, for a static Go binary).
func preloaded() int {
	p := os.Getenv("LD_PRELOAD")
	if p == "" {
		return 0
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil || !strings.Contains(string(maps), filepath.Base(p)) {
		return 0
	}
	return 1
}

func main() {
	mode := flag.String("m", "echo", "mode: echo, http or storm")
	stormN := flag.Int("t", 10000, "storm: goroutines")
	stormIters := flag.Int("r", 100, "storm: sleeps per goroutine")
	stormD := flag.Duration("d", time.Millisecond, "storm: length of each sleep")
	port := flag.Int("p", 0, "port to listen on (0 = ephemeral)")
	portFile := flag.String("f", "", "write the chosen port to this file (via FILE.tmp + rename)")
	limit := flag.Int("T", 120, "stop after this many seconds (0 = no limit)")
	bodyLen := flag.Int("b", 128, "http: body size of the 200 response")
	flag.Int("l", 4096, "listen backlog (ignored: Go uses net.core.somaxconn)")
	flag.String("s", "64k", "stack size (ignored: goroutine stacks grow on demand)")
	flag.Parse()
	if *mode == "storm" {
		if *stormN < 1 || *stormIters < 0 || *stormD < 0 || flag.NArg() > 0 {
			fmt.Fprintln(os.Stderr, "storm: need -t >= 1, -r >= 0, -d >= 0")
			os.Exit(2)
		}
		os.Exit(runStorm(*stormN, *stormIters, *stormD))
	}
	var rl syscall.Rlimit // Go >= 1.19 does this itself; kept explicit, like the C servers
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	if (*mode != "echo" && *mode != "http") || *port < 0 || *port > 65535 || *bodyLen < 0 ||
		*bodyLen > 1<<30 || *limit < 0 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "bad mode, port, body size, time limit or extra arguments")
		flag.Usage()
		os.Exit(2)
	}

	serve := serveEcho
	if *mode == "http" {
		serve = serveHTTP
		body := make([]byte, *bodyLen)
		for i := range body {
			if i%64 == 63 || i == len(body)-1 {
				body[i] = '\n'
			} else {
				body[i] = byte('a' + i%26)
			}
		}
		okKeep = makeResponse("200 OK", "", body)
		okClose = makeResponse("200 OK", "Connection: close\r\n", body)
		nfKeep = makeResponse("404 Not Found", "", []byte("not found\n"))
		nfClose = makeResponse("404 Not Found", "Connection: close\r\n", []byte("not found\n"))
		badReq = makeResponse("400 Bad Request", "Connection: close\r\n", []byte("bad request\n"))
	}

	ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen socket:", err)
		os.Exit(2)
	}
	publishPort(ln.Addr().(*net.TCPAddr).Port, *portFile)

	var stoppedBy atomic.Value
	stop := func(why string) {
		if stoppedBy.CompareAndSwap(nil, why) {
			ln.Close() // Accept returns at once
		}
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sigs; stop("signal") }()
	if *limit > 0 {
		time.AfterFunc(time.Duration(*limit)*time.Second, func() { stop("time") })
	}

	fatal := false
	t0 := time.Now()
	for {
		c, err := ln.Accept()
		if err != nil {
			if stoppedBy.Load() != nil {
				break
			}
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
				errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) {
				atomic.AddInt64(&acceptErrors, 1)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			fmt.Fprintln(os.Stderr, "accept:", err)
			fatal = true
			stop("error")
			break
		}
		atomic.AddInt64(&accepted, 1)
		atomic.AddInt64(&active, 1)
		go func() {
			defer func() {
				c.Close()
				atomic.AddInt64(&active, -1)
			}()
			serve(c)
		}()
	}
	secs := time.Since(t0).Seconds()

	errs := atomic.LoadInt64(&ioErrors)
	ok := 0
	if errs == 0 && !fatal {
		ok = 1
	}
	ld := atomic.LoadInt64
	var line string
	if *mode == "echo" {
		line = fmt.Sprintf("bench=peer_go ok=%d metric=connections value=%.6g mode=echo bytes=%d closed=%d "+
			"active=%d resets=%d errors=%d accept_errors=%d gomaxprocs=%d secs=%.3f stopped_by=%s",
			ok, float64(ld(&accepted)), ld(&bytesEchoed), ld(&closed), ld(&active), ld(&resets), errs,
			ld(&acceptErrors), runtime.GOMAXPROCS(0), secs, stoppedBy.Load())
	} else {
		line = fmt.Sprintf("bench=peer_go ok=%d metric=requests value=%.6g mode=http resp_200=%d resp_404=%d "+
			"bad=%d connections=%d closed=%d active=%d bytes_out=%d resets=%d errors=%d accept_errors=%d "+
			"body=%d gomaxprocs=%d secs=%.3f stopped_by=%s",
			ok, float64(ld(&requests)), ld(&resp200), ld(&resp404), ld(&badReqs), ld(&accepted), ld(&closed),
			ld(&active), ld(&bytesOut), ld(&resets), errs, ld(&acceptErrors), *bodyLen, runtime.GOMAXPROCS(0),
			secs, stoppedBy.Load())
	}
	fmt.Printf("%s preloaded=%d\n", line, preloaded())
	if ok == 0 {
		os.Exit(1)
	}
}
