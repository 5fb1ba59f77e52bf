"""`make bench`: our epoll server against nginx, uvicorn and a plain asyncio server, C10K, slowloris, lab speed."""
