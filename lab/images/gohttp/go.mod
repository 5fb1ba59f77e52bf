module epoll-lab/board/gohttp

// The newest Go release the module proxy serves (go1.27.4, 2026-11-02): the go line sets the language and
// GODEBUG defaults, the toolchain line the exact compiler, fetched by the go command from the proxy when the
// host's is older (lab/host_builds.py builds with GOTOOLCHAIN=auto).
go 1.27

toolchain go1.27.4
