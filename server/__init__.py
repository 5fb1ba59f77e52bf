"""epoll-lab's reference HTTP/1.1 server: one epoll loop, level- or edge-triggered, stdlib only."""
