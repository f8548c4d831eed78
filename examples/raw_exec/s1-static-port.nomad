# Scenario 1 (static port) with the raw_exec driver: redis-server on a fixed host port.
#
# The seed uses static = 6379. This example uses 16379 instead, so that it does not
# clash with a redis the machine already runs (installing Debian's redis-server package
# enables a system service on 6379). If something else holds 16379, the client refuses
# the port and `caravan job status` says why.
#
# As in s1-dynamic-port.nomad, raw_exec maps nothing, so there is no `to`.
#
#   caravan job run examples/raw_exec/s1-static-port.nomad
#   redis-cli -p 16379 ping
job "redis" {
  datacenters = ["dc1"]
  type        = "service"

  group "redis" {
    count = 1

    network {
      mode = "host"
      port "redis" {
        static = 16379
      }
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
