"""HTTP/1.1 wire format: a sans-I/O request parser and response serialisation."""
