"""Host and package name lists the context model uses (data, kept apart from the logic).

Sources: the vendors' own installation docs (one-line installers), the paste, file-drop, shortener and
tunnel services seen in campaign reports (ClawHavoc used glot.io; others use paste and tunnel hosts), and
the most downloaded PyPI and npm packages.
"""

from __future__ import annotations

# fmt: off
#: Hosts whose installers are well known (their one-line installers are in their official docs).
VENDOR_HOSTS = frozenset(
    {
        "anthropic.com", "apt.llvm.org", "apt.releases.hashicorp.com", "astral.sh", "atuin.sh",
        "awscli.amazonaws.com", "brew.sh", "builds.dotnet.microsoft.com", "bun.sh", "cargo.sh", "chocolatey.org",
        "claude.ai", "cli.doppler.com", "cli.github.com", "cli.kiro.dev", "cli.railway.app", "cli.sentry.dev",
        "cli.upbound.io", "cli.vercel.com", "cloud.google.com", "cloudflare.com", "community.chocolatey.org",
        "console.cloud.google.com", "cursor.com", "dagger.io", "deb.debian.org", "deb.nodesource.com", "deno.com",
        "deno.land", "devbox.sh", "developers.cloudflare.com", "direnv.net", "dl.dagger.io", "dl.google.com",
        "dl.k8s.io", "dot.net", "dotnet.microsoft.com", "download.docker.com", "download.pytorch.org", "expo.dev",
        "files.pythonhosted.org", "fluxcd.io", "fly.io", "fnm.vercel.app", "foundry.paradigm.xyz", "get.docker.com",
        "get.helm.sh", "get.jetify.com", "get.k3s.io", "get.modular.com", "get.pnpm.io", "get.pulumi.com",
        "get.rvm.io", "get.sdkman.io", "get.volta.sh", "gh.io", "go.dev", "golang.org", "goreleaser.com",
        "hashicorp.com", "install.determinate.systems", "install.lunarvim.org", "install.python-poetry.org",
        "install.speakeasy.com", "just.systems", "kiro.dev", "mise.jdx.dev", "mise.run", "modular.com", "neon.tech",
        "nixos.org", "nodejs.org", "npmjs.com", "ohmyz.sh", "ollama.com", "openai.com", "opencode.ai",
        "packages.microsoft.com", "pkg.cloudflare.com", "pkgs.tailscale.com", "pyenv.run", "pypi.org",
        "railway.app", "registry.npmjs.org", "releases.hashicorp.com", "rpm.nodesource.com",
        "rpm.releases.hashicorp.com", "run.linkerd.io", "rustup.rs", "sdk.cloud.google.com", "sentry.io",
        "setup.atuin.sh", "sh.brew.sh", "sh.flox.dev", "sh.rustup.rs", "starship.rs", "static.rust-lang.org",
        "stripe.com", "supabase.com", "tailscale.com", "test.docker.com", "vercel.com", "volta.sh", "wrangler.dev",
        "www.npmjs.com"
    }
)

#: Installer URLs on shared hosts (GitHub) that are well known: matched as ``host/path`` prefixes.
VENDOR_URL_PREFIXES = (
    "raw.githubusercontent.com/homebrew/install/", "raw.githubusercontent.com/nvm-sh/nvm/",
    "raw.githubusercontent.com/ohmyzsh/ohmyzsh/", "raw.githubusercontent.com/pyenv/pyenv-installer/",
    "raw.githubusercontent.com/rvm/rvm/", "raw.githubusercontent.com/creationix/nvm/",
    "raw.githubusercontent.com/helm/helm/", "raw.githubusercontent.com/golangci/golangci-lint/",
    "raw.githubusercontent.com/mitsuhiko/rye/",
    "raw.githubusercontent.com/python-poetry/install.python-poetry.org/", "github.com/astral-sh/",
    "github.com/cli/cli/", "raw.githubusercontent.com/anthropics/", "raw.githubusercontent.com/openai/",
    "raw.githubusercontent.com/vercel/", "raw.githubusercontent.com/supabase/",
    "raw.githubusercontent.com/cloudflare/", "raw.githubusercontent.com/getsentry/",
    "raw.githubusercontent.com/stripe/", "raw.githubusercontent.com/hashicorp/",
    "raw.githubusercontent.com/expo/", "raw.githubusercontent.com/kubernetes/",
    "raw.githubusercontent.com/docker/", "raw.githubusercontent.com/microsoft/",
    "raw.githubusercontent.com/google/", "raw.githubusercontent.com/aws/", "raw.githubusercontent.com/jdx/",
    "raw.githubusercontent.com/rapid7/", "raw.githubusercontent.com/junegunn/",
)

#: Where packages honestly come from besides the index (``pip install git+https://github.com/…``).
PACKAGE_HOSTS = frozenset(
    {
        "bitbucket.org", "codeload.github.com", "download.pytorch.org", "files.pythonhosted.org", "github.com",
        "gitlab.com", "huggingface.co", "pypi.org", "registry.npmjs.org", "test.pypi.org"
    }
)

#: Paste sites, file drops, shorteners, tunnels and request bins: where campaigns host second stages.
SUSPICIOUS_HOSTS = frozenset(
    {
        "0x0.st", "anonfiles.com", "bashupload.com", "bit.ly", "burpcollaborator.net", "catbox.moe",
        "cdn.discordapp.com", "controlc.com", "cutt.ly", "ddns.net", "dpaste.com", "dpaste.org", "duckdns.org",
        "file.io", "filebin.net", "files.catbox.moe", "ghostbin.com", "glot.io", "gofile.io", "hastebin.com",
        "interact.sh", "is.gd", "ix.io", "justpaste.it", "litter.catbox.moe", "loca.lt", "localtunnel.me",
        "media.discordapp.net", "mediafire.com", "mega.nz", "ngrok-free.app", "ngrok.app", "ngrok.io", "no-ip.com",
        "oast.fun", "oshi.at", "paste.ee", "paste.rs", "pastebin.com", "pastes.dev", "pipedream.net",
        "pixeldrain.com", "privatebin.net", "raw.githack.com", "rebrand.ly", "rentry.co", "rentry.org",
        "requestbin.net", "send.vis.ee", "serveo.net", "shorturl.at", "sprunge.us", "t.ly", "temp.sh",
        "termbin.com", "tinyurl.com", "tmpfiles.org", "transfer.sh", "trycloudflare.com", "uguu.se", "webhook.site"
    }
)

#: Well-known domains whose near-misses are look-alikes (``githubusercontent.co``, ``pypl.org``, ``astra1.sh``).
WELL_KNOWN = frozenset(
    {
        "amazonaws.com", "anthropic.com", "apple.com", "astral.sh", "brew.sh", "bun.sh", "chocolatey.org",
        "claude.ai", "clawhub.ai", "cloudflare.com", "deno.land", "docker.com", "github.com",
        "githubusercontent.com", "gitlab.com", "google.com", "googleapis.com", "homebrew.sh", "jsdelivr.net",
        "kiro.dev", "microsoft.com", "nodejs.org", "nodesource.com", "npmjs.com", "npmjs.org", "openai.com",
        "openclaw.ai", "pypi.org", "python.org", "pythonhosted.org", "rustup.rs", "vercel.com"
    }
)

#: Popular package names (PyPI and npm top downloads, and the campaign's own names) whose near-misses are
#: typosquats; names that are themselves real and popular are in the list, so they never match.
POPULAR_PACKAGES = frozenset(
    {
        "aiohttp", "ansible", "anthropic", "apollo", "arrow", "attrs", "axios", "beautifulsoup4", "boto3",
        "botocore", "celery", "certifi", "chalk", "classnames", "clawhub", "click", "colorama", "commander",
        "core-js", "cross-env", "cryptography", "debug", "discord.js", "django", "docker", "dotenv", "electron",
        "esbuild", "eslint", "express", "fastapi", "firebase", "flask", "glob", "graphql", "gunicorn", "httpx",
        "huggingface-hub", "idna", "jest", "jinja2", "kubernetes", "langchain", "lightgbm", "lodash", "matplotlib",
        "minimist", "mkdirp", "mocha", "moment", "mongoose", "mysql2", "next", "node-fetch", "nodemon", "numba",
        "numpy", "openai", "openclaw", "pandas", "paramiko", "pg", "pillow", "pip", "playwright", "playwright-core",
        "plotly", "polars", "prettier", "prop-types", "psycopg2", "puppeteer", "pydantic", "pymongo", "pytest",
        "python-dotenv", "pytz", "pyyaml", "react", "react-dom", "redis", "redux", "request", "requests",
        "requests-oauthlib", "rich", "rimraf", "rxjs", "scipy", "seaborn", "selenium", "semver", "setuptools",
        "sharp", "six", "slack-sdk", "socket.io", "sqlalchemy", "sqlite3", "stripe", "tailwindcss", "tensorflow",
        "torch", "tqdm", "transformers", "ts-node", "tslib", "twilio", "typer", "typescript", "urllib3", "uuid",
        "uvicorn", "vite", "vue", "webpack", "wheel", "ws", "xgboost", "yaml", "yargs", "zod"
    }
)
# fmt: on
