# Shared by .ci/run and .ci/serve: installs what Studio needs, skipping what is already there.

install_system_packages() {
  local wanted=() package
  for package in "$@"; do
    case "$package" in
      chromium) command -v chromium >/dev/null 2>&1 || wanted+=(chromium) ;;
      postgresql) ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || wanted+=(postgresql postgresql-contrib) ;;
      # The single sign-on tests run a real OpenID provider (tests/fakes/oidc) with Node 18 or later.
      nodejs) { command -v node && command -v npm; } >/dev/null 2>&1 || wanted+=(nodejs npm) ;;
    esac
  done
  [ ${#wanted[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "Installing Debian packages: ${wanted[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${wanted[@]}" >/dev/null
}

install_python_packages() {
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -e "$1"
}
