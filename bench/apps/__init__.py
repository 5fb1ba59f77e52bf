"""The comparison servers: the smallest programs that answer `GET /` with the same body as ours."""
