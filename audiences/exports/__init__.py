"""Remarketing audience exports, one module per ad platform; pick one by slug from PLATFORMS.

The pure part: normalisation and hashing (`normalize`: each rule once), the platforms (`base`
and one module each, stating which rule gives each identifier) and the CSV writer (`writer`).
Choosing a segment's clients, consent and storage live in the workflow that calls `write_batches`.
"""

from .base import ClientRow, Lines, Platform
from .google import Google
from .meta import Meta
from .tiktok import TikTok
from .vk import VK
from .writer import ExportCounts, write_audience, write_batches
from .yandex import Yandex

PLATFORMS: dict[str, Platform] = {platform.name: platform for platform in (Google(), Meta(), Yandex(), VK(), TikTok())}


def get_platform(slug: str) -> Platform:
    """The platform for `slug`; a ValueError naming the known slugs for anything else."""
    try:
        return PLATFORMS[slug]
    except KeyError:
        raise ValueError(f"unknown ad platform {slug!r}; known: {', '.join(PLATFORMS)}") from None


__all__ = ["PLATFORMS", "ClientRow", "ExportCounts", "Lines", "Platform", "get_platform", "write_audience",
           "write_batches"]
