"""The glossary a teaching report ends with: each registry term a step explanation uses,
defined once in plain words, in English and in Chinese (in the seed posts' words: 清单, 层,
token, realm). Steps link to these entries by id (`#term-realm`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    id: str
    title: dict[str, str]
    text: dict[str, str]

    def anchor(self) -> str:
        return f"term-{self.id}"


TERMS: tuple[Term, ...] = (
    Term("challenge",
         {"en": "challenge", "zh": "认证质询（challenge）"},
         {"en": "A 401 answer's WWW-Authenticate header: it names the auth scheme (Bearer or Basic) and where "
                "and how to get credentials.",
          "zh": "401 返回里的 WWW-Authenticate 头：写明认证方式（Bearer 或 Basic），以及到哪里、怎样获取凭据。"}),
    Term("realm",
         {"en": "realm", "zh": "realm"},
         {"en": "The token service's URL, given in a Bearer challenge: the client asks it for a token.",
          "zh": "Bearer 质询里给出的 token 服务地址，客户端到这里去申请 token。"}),
    Term("scope",
         {"en": "scope", "zh": "scope（权限范围）"},
         {"en": "What a token is asked for or grants, as type:name:actions, e.g. repository:library/alpine:pull.",
          "zh": "token 申请或授予的权限，格式为 类型:名称:操作，例如 repository:library/alpine:pull。"}),
    Term("token",
         {"en": "token", "zh": "token"},
         {"en": "A short-lived pass from the token service; the client sends it to the registry as "
                "Authorization: Bearer ….",
          "zh": "token 服务发的短期通行证，客户端在请求头 Authorization: Bearer … 中带给 registry。"}),
    Term("manifest",
         {"en": "manifest", "zh": "清单（manifest）"},
         {"en": "A JSON document that describes one image: its config blob and its layers, each by digest.",
          "zh": "描述一个镜像的 JSON 文件：列出配置 blob 和各个层，每项都用摘要（digest）标识。"}),
    Term("manifest-list",
         {"en": "manifest list / index", "zh": "清单列表（manifest list / index）"},
         {"en": "A manifest of manifests: one entry per platform (linux/amd64, linux/arm64, …), each by digest.",
          "zh": "清单的清单：每个平台（linux/amd64、linux/arm64 等）一项，每项用摘要标识。"}),
    Term("platform-manifest",
         {"en": "platform manifest", "zh": "平台清单"},
         {"en": "The image manifest for one OS and CPU, chosen from a manifest list and fetched by its digest.",
          "zh": "某一操作系统和 CPU 的镜像清单，从清单列表中选出，再按摘要拉取。"}),
    Term("digest",
         {"en": "digest", "zh": "摘要（digest）"},
         {"en": "sha256:… of a manifest's or blob's bytes: its name and its checksum at once; the client checks it.",
          "zh": "清单或 blob 内容的 sha256:… 值，既是名字也是校验和，客户端下载后会核对。"}),
    Term("blob",
         {"en": "blob", "zh": "blob"},
         {"en": "Content stored by digest: the image config or one layer (a compressed tar).",
          "zh": "按摘要存放的内容：镜像配置，或者一个层（压缩的 tar 包）。"}),
    Term("redirect",
         {"en": "redirect", "zh": "重定向"},
         {"en": "A 3xx answer (307, 302) with a Location header: the client must fetch the content there instead.",
          "zh": "带 Location 头的 3xx 返回（307、302）：客户端要改到那个地址去取内容。"}),
    Term("cdn",
         {"en": "CDN / object storage", "zh": "CDN / 对象存储"},
         {"en": "Another host that serves the blob's bytes for the registry, often by a signed URL that needs "
                "no registry token.",
          "zh": "替 registry 提供 blob 内容的另一台主机，通常用带签名的 URL，不需要 registry 的 token。"}),
    Term("mirror",
         {"en": "mirror", "zh": "镜像加速（mirror）"},
         {"en": "A registry that serves copies of another registry's images, asked first in its place.",
          "zh": "代替另一个 registry 提供其镜像副本的 registry，客户端会先向它请求。"}),
)

BY_ID: dict[str, Term] = {term.id: term for term in TERMS}


def terms_in_order(ids: set[str] | list[str]) -> list[Term]:
    """The glossary entries for some ids, in the glossary's order (not the order of first use)."""
    wanted = set(ids)
    return [term for term in TERMS if term.id in wanted]
