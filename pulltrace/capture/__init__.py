"""Sources of exchanges: the mitmproxy addon and the flow/HAR/trace-JSON importers."""
