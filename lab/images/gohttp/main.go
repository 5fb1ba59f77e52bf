// The lab's routes on Go's net/http: GET /, GET /bytes/N (byte i is i % 251), POST /echo.
// Deadlines (docs/architecture.md): header 2 s, idle keep-alive 5 s, write 5 s. Go's WriteTimeout
// bounds the whole response from the end of the request head, not one stalled write.
package main

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

const maxBytes = 16 << 20

var pattern = func() []byte {
	b := make([]byte, maxBytes)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}()

func hello(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, "hello, epoll\n")
}

func bytesRoute(w http.ResponseWriter, r *http.Request) {
	size, err := strconv.Atoi(r.PathValue("size"))
	if err != nil || size < 0 {
		http.Error(w, "bad size", http.StatusBadRequest)
		return
	}
	if size > maxBytes {
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(size))
	w.Write(pattern[:size])
}

func echo(w http.ResponseWriter, r *http.Request) {
	// A declared length over the limit is refused before any of the body is read (as nginx's
	// client_max_body_size does): MaxBytesReader alone waits for maxBytes to arrive first.
	if r.ContentLength > maxBytes {
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
		}
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", hello)
	mux.HandleFunc("GET /bytes/{size}", bytesRoute)
	mux.HandleFunc("POST /echo", echo)
	server := &http.Server{
		Addr:              ":8080",
		Handler:           mux,
		ReadHeaderTimeout: 2 * time.Second,
		IdleTimeout:       5 * time.Second,
		WriteTimeout:      5 * time.Second,
		MaxHeaderBytes:    1 << 16,
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	drained := make(chan struct{})
	go func() {
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		server.Shutdown(ctx)
		close(drained)
	}()
	if err := server.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	// ListenAndServe returns at once when Shutdown begins: "Make sure the program doesn't exit and waits instead
	// for Shutdown to return" (net/http's Server.Shutdown docs).
	<-drained
}
