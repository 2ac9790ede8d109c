#!/bin/sh
# Install the Debian packages strata needs that are missing: the base list
# here plus each plugin's plugins/NAME/deps.txt. apt-get as root, sudo otherwise.
set -e
cd "$(dirname "$0")/.."
pkgs="make gcc pkg-config libmicrohttpd-dev libiniparser-dev libcmocka-dev
      curl python3 clang libclang-rt-14-dev media-types apache2-utils openssl"
# peers and real clients the tests compare with or parse through
pkgs="$pkgs nginx-light goaccess python3-prometheus-client wrk"
for f in plugins/*/deps.txt; do
    [ -f "$f" ] && pkgs="$pkgs $(grep -v '^#' "$f" | tr '\n' ' ')"
done
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
# nginx and lighttpd are peers to compare with, not services to start:
# a policy-rc.d that says "no" keeps apt from starting them on port 80.
guard=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    guard=1
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing
[ -n "$guard" ] && $SUDO rm -f /usr/sbin/policy-rc.d
exit 0
