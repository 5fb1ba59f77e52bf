"""epoll-lab orchestration: bring labs up and down, fault them, observe and judge targets."""
