# gunicorn's production settings (docs: "Design", "Settings") with the lab's deadlines where it has one.
# Sync workers close every connection after its response (no keep-alive), and have no header, body or
# write deadline of their own: the only bound on a stalled client is `timeout`, after which the master
# kills the silent worker. It is set to the lab's 5 s, so a slow head, body or reader is cut off at about 5 s.
bind = "0.0.0.0:8080"
worker_class = "sync"
workers = 5  # (2 x cores) + 1 on this lab's 2-core machine, the docs' starting point
timeout = 5
graceful_timeout = 10
backlog = 2048
limit_request_line = 4094
limit_request_fields = 100
accesslog = None
errorlog = "-"
loglevel = "warning"
