"""The MovieLens releases `cinemart data fetch` knows, with what to verify them against.

Every figure below is quoted, not measured against files.grouplens.org (this
project was built without access to it); `provenance` names the source of each
release's figures so a reviewer can re-check them.  An archive whose digest we
do not record is verified against the `<archive>.md5` file GroupLens serves
beside it instead (see `Release.needs_published_md5`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cinemart.data.layout import Format

DEFAULT_BASE_URL = "https://files.grouplens.org/datasets/movielens"

_TFDS = (
    "size + sha256: tensorflow/datasets tensorflow_datasets/url_checksums/movielens.txt "
    "(commit 1c076ac3c19c8ea83e1d1a75e0623c9a699e0d7c)"
)
_ELI_MD5 = (
    "md5: eli-osherovich/papers_with_code datasets/movielens/dl_config.py "
    "(commit 3888fe1b78408bfd0c7791f58b1e4e0cef8b5a4d)"
)


class UnknownDatasetError(ValueError):
    """A dataset name that is not in the catalog."""


@dataclass(frozen=True)
class Release:
    """One downloadable MovieLens archive and the figures that authenticate it."""

    name: str
    format: Format
    size: int | None
    sha256: str | None
    md5: str | None
    provenance: str
    unzipped_as: str | None = None  # the archive's top folder, when it is not `name`

    @property
    def folder_names(self) -> tuple[str, ...]:
        """Names a local copy of this release goes by: a folder so named is taken to hold it."""
        return (self.name, self.unzipped_as) if self.unzipped_as else (self.name,)

    @property
    def archive(self) -> str:
        return f"{self.name}.zip"

    @property
    def digests(self) -> dict[str, str]:
        """Every recorded digest by hashlib name; all of them must match."""
        recorded = {"sha256": self.sha256, "md5": self.md5}
        return {algorithm: value for algorithm, value in recorded.items() if value}

    @property
    def needs_published_md5(self) -> bool:
        """True when nothing is recorded, so GroupLens' `.md5` sidecar is the reference."""
        return not self.digests

    def url(self, base_url: str = DEFAULT_BASE_URL) -> str:
        return f"{base_url.rstrip('/')}/{self.archive}"


RELEASES: dict[str, Release] = {
    release.name: release
    for release in (
        Release(
            name="ml-latest-small",
            format="csv",
            size=978202,
            sha256="696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
            md5="31a303aabbc519bd33d025e44d6c2570",
            provenance=f"{_TFDS}; md5 computed from the archive in shared/data/archives, "
            "whose size and sha256 match TFDS",
        ),
        Release(
            name="ml-100k",
            format="100k",
            size=4924029,
            sha256="50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
            md5="0e33842e24a9c977be4e0107933c0723",
            provenance=f"{_TFDS}; {_ELI_MD5}",
        ),
        Release(
            name="ml-1m",
            format="dat",
            size=5917549,
            sha256="a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
            md5="c4d9eecfca2ab87c1945afe126590906",
            provenance=f"{_TFDS}; {_ELI_MD5}",
        ),
        # Unpacks to a folder named ml-10M100K, not ml-10m; fetch flattens whatever
        # single top folder an archive has, so the name does not matter.
        Release(
            name="ml-10m",
            format="dat",
            size=None,
            sha256=None,
            md5="ce571fd55effeba0271552578f2648bd",
            provenance=f"{_ELI_MD5}; size not recorded (no citable source)",
            unzipped_as="ml-10M100K",
        ),
        Release(
            name="ml-25m",
            format="csv",
            size=None,
            sha256=None,
            md5="6b51fb2759a8657d3bfcbfc42b592ada",
            provenance=f"{_ELI_MD5}; size not recorded (no citable source)",
        ),
        Release(
            name="ml-32m",
            format="csv",
            size=None,
            sha256=None,
            md5=None,
            provenance="nothing recorded: verified against GroupLens' published ml-32m.zip.md5",
        ),
    )
}


#: What `cinemart build` builds when no dataset is named and no local copy is given.
DEFAULT_RELEASE = "ml-latest-small"


def release_named_by_folder(folder: str | Path) -> Release | None:
    """The release whose name (or unzipped folder name) `folder` bears, if any."""
    base = Path(folder).resolve().name.casefold()
    return next((release for release in RELEASES.values()
                 if base in (name.casefold() for name in release.folder_names)), None)


def get_release(name: str) -> Release:
    """Look a release up by name; the error lists the valid names."""
    try:
        return RELEASES[name]
    except KeyError:
        known = ", ".join(RELEASES)
        raise UnknownDatasetError(f"unknown dataset {name!r}; known datasets: {known}") from None
