"""Download the Free Spoken Digit Dataset's pinned GitHub release (tag v1.0.10 of
Jakobovski/free-spoken-digit-dataset) into the cache, check every recording against nnet2's
committed SHA-256 manifest, and print the folder (it holds recordings/, like any FSDD copy).
Nothing is kept unless every recording is present and matches. Does nothing when the cache already
holds a verified copy. `nnet2 prepare-fsdd` (stage 0 of egs/fsdd/run.sh) calls this itself when no
local copy is given or found.

    nnet2 download-fsdd                                   # -> ~/.cache/nnet2/fsdd-v1.0.10
    NNET2_FSDD_URL=file:///srv/fsdd-v1.0.10.tar.gz nnet2 download-fsdd --cache-dir /data/fsdd
"""

NAME = "download-fsdd"
HELP = "download FSDD's pinned release into the cache, verified against the SHA-256 manifest"


def add_arguments(p):
    from nnet2.corpora.fsdd_download import FSDD_URL

    p.add_argument("--url", default="",
                   help=f"archive to fetch (.tar.gz or .zip; http(s):// or file://); "
                        f"empty: $NNET2_FSDD_URL, else {FSDD_URL}")
    p.add_argument("--cache-dir", default="",
                   help="where the verified copy goes; empty: $NNET2_FSDD_CACHE, else "
                        "$XDG_CACHE_HOME/nnet2/fsdd-<tag> (~/.cache/nnet2/fsdd-<tag>)")


def run(args) -> int:
    from nnet2 import api

    print(api.download_fsdd(cache_dir=args.cache_dir or None, url=args.url or None))
    return 0
