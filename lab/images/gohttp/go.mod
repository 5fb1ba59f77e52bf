module epoll-lab/board/gohttp

go 1.26
