# Scenario 1 (dynamic port) with the raw_exec driver: redis-server on a host port
# picked from the client's dynamic range (20000-32000 by default).
#
# The seed maps the dynamic port to 6379 inside a container (`to = 6379`). raw_exec has
# no network namespace and nothing maps ports, so `to` is left out: NOMAD_PORT_redis is
# the host port itself, and redis-server is told to listen on it.
#
#   caravan job run examples/raw_exec/s1-dynamic-port.nomad
#   redis-cli -p <port shown by `caravan alloc status`> ping
job "redis" {
  datacenters = ["dc1"]
  type        = "service"

  group "redis" {
    count = 1

    network {
      mode = "host"
      port "redis" {}
    }

    task "redis" {
      driver = "raw_exec"

      config {
        command = "/usr/bin/redis-server"
        # No persistence: the demo's data lives and dies with the allocation.
        args = ["--port", "${NOMAD_PORT_redis}", "--save", "", "--appendonly", "no"]
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
