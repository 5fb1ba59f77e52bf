"""The chaos suite's engine: scenarios as data, a runner that plays them on a lab, pure checks."""
