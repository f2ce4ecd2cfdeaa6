"""The built-in pull client: it speaks the registry protocol itself and records every request
as an Exchange, so its trace renders exactly like a captured `docker pull`. What a registry
sends is not trusted: digests, descriptors, redirects, realms and body sizes are checked
where they enter (`pulltrace pull` itself lives in pulltrace.commands.pull).

    pull        one pull, start to end (Puller, PullOptions, PullResult)
    registry    ping / manifest / blob calls and what their errors mean
    endpoints   mirrors, reverse proxies, insecure registries
    transport   auth flows driven, redirects followed and recorded hop by hop, bodies capped
    hops        which redirects and token realms may be followed
    auth_flow   the challenge → token → retry generator
    credentials docker config and credential helpers
    digests     digests from the wire: the OCI grammar, sha256 only
    descriptors a manifest's descriptors and an image config, checked before use
    download    concurrent, verified, resumable blob downloads
    cache       content-addressed blob store
    writers     docker-archive and OCI layout output
    recorder    requests → Exchanges
"""
