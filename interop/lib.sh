# Shared by the scripts in interop/: a free port, a test PKI made with openssl, and a node
# started in the background (stopped when the calling script exits). Source it.

# Prints a free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# make_ca DIR NAME: DIR/ca.pem and DIR/ca.key, a root CA valid two days.
make_ca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$2" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -keyout "$1/ca.key" -out "$1/ca.pem" 2>/dev/null
}

# issue DIR CA_PREFIX KEY_OUT CERT_OUT NAME [EXTENSIONS]: a certificate signed by CA_PREFIX.pem/.key.
issue() {
  local dir=$1 ca=$2 key=$3 cert=$4 name=$5
  local ext=${6:-"subjectAltName=DNS:localhost,IP:127.0.0.1\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth"}
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
    -keyout "$key" -out "$dir/$name.csr" 2>/dev/null
  printf "$ext\n" > "$dir/$name.ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial \
    -days 2 -extfile "$dir/$name.ext" -out "$cert" 2>/dev/null
}

# start_node BINARY NODE_DIR LOG: runs the node in the background until this script exits,
# and waits until it listens. Sets node_pid.
start_node() {
  "$1" "$2" > "$3" 2>&1 &
  node_pid=$!
  trap 'kill $node_pid 2>/dev/null || true' EXIT
  for _ in $(seq 200); do
    grep -q "listening" "$3" 2>/dev/null && return 0
    kill -0 "$node_pid" 2>/dev/null || { cat "$3"; return 1; }
    sleep 0.05
  done
  echo "the node did not start:"; cat "$3"; return 1
}
