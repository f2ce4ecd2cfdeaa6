"""The built-in pull client: it speaks the registry protocol itself and records every request
as an Exchange, so its trace renders exactly like a captured `docker pull`.

    cli         `pulltrace pull`
    pull        one pull, start to end (Puller, PullOptions, PullResult)
    registry    ping / manifest / blob calls and what their errors mean
    endpoints   mirrors, reverse proxies, insecure registries
    transport   auth flows driven, redirects followed and recorded hop by hop
    auth_flow   the challenge → token → retry generator
    credentials docker config and credential helpers
    download    concurrent, verified, resumable blob downloads
    cache       content-addressed blob store
    writers     docker-archive and OCI layout output
    recorder    requests → Exchanges
"""
