# Scenario 2 with the raw_exec driver: hello-app and redis-server in one group, so they
# share the allocation's network and the app finds redis through NOMAD_ADDR_redis.
#
# Both ports are dynamic here (the seed pins 8080 and 6379; with raw_exec the processes
# bind the host's ports directly, so fixed ports would clash with anything else on the
# machine). Neither port has a `to`: raw_exec maps nothing, NOMAD_PORT_<label> is the
# host port.
#
# hello-app is built from examples/hello-app; point `hello_app_bin` at the binary:
#
#   cargo build --release -p hello-app
#   caravan job run -var hello_app_bin=$PWD/target/release/hello-app \
#     examples/raw_exec/s2-same-group.nomad
variable "hello_app_bin" {
  type        = string
  description = "Absolute path of the hello-app binary on the client."
  default     = "/usr/local/bin/hello-app"
}

job "hello" {
  datacenters = ["dc1"]
  type        = "service"

  group "app" {
    count = 1

    network {
      mode = "host"
      port "app" {}
      port "redis" {}
    }

    task "redis" {
      driver = "raw_exec"

      config {
        command = "/usr/bin/redis-server"
        # Listen on exactly the address the app is given (NOMAD_ADDR_redis is
        # NOMAD_IP_redis:NOMAD_PORT_redis). Redis 7's protected mode would refuse the app
        # whenever that address is not loopback (any agent not in -dev mode), so it is
        # off, as in the redis:7 image the seed runs. No persistence: the demo's data
        # lives and dies with the allocation.
        args = [
          "--bind", "${NOMAD_IP_redis}",
          "--port", "${NOMAD_PORT_redis}",
          "--protected-mode", "no",
          "--save", "",
          "--appendonly", "no",
        ]
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }

    task "app" {
      driver = "raw_exec"

      # hello-app listens on NOMAD_PORT_app by itself; DEMO_REDIS_ADDR is host:port of
      # the redis task's port, on the address the client gave the allocation.
      env {
        DEMO_REDIS_ADDR = "${NOMAD_ADDR_redis}"
      }

      config {
        command = var.hello_app_bin
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
