# Scenario 3 with `provider = "consul"` and the raw_exec driver: the app and redis in
# two groups; the app finds redis through the `service` template function, which reads
# Consul's health view of the catalog (passing instances only). Caravan serves that
# view itself, with no Consul agent: the services appear in its Consul-compatible API
# (`curl localhost:8500/v1/health/service/redis?passing`).
#
# Adapted from ../seeds/s3-consul-service.nomad as s3-nomad-service.nomad is from its
# seed:
# - raw_exec with `command` instead of docker images; no `to` on ports (nothing maps
#   them: NOMAD_PORT_<label> is the host port the process binds);
# - redis-server binds the address the catalog advertises (the port's host IP), with
#   protected mode off as in the redis:7 image;
# - small resources.
#
# The template renders DEMO_REDIS_ADDR into secrets/config.env and loads it into the
# app's environment (env = true). If it renders before redis is registered, the file
# is empty; once redis registers (and passes: it has no checks, so at once), the
# template is rendered again and the app restarted (change_mode "restart", after a
# random splay of up to 5 s).
#
#   cargo build --release -p hello-app
#   caravan job run -var hello_app_bin=$PWD/target/release/hello-app \
#     examples/raw_exec/s3-consul-service.nomad
#   curl -s localhost:8500/v1/catalog/service/redis
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
    }

    service {
      name     = "app"
      provider = "consul"
      port     = "app"
    }

    task "app" {
      driver = "raw_exec"

      template {
        data = <<EOH
{{ range service "redis" }}
DEMO_REDIS_ADDR={{ .Address }}:{{ .Port }}
{{ end }}
EOH

        destination = "secrets/config.env"
        env         = true
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

  group "redis" {
    count = 1

    network {
      mode = "host"
      port "redis" {}
    }

    service {
      name     = "redis"
      provider = "consul"
      port     = "redis"
    }

    task "redis" {
      driver = "raw_exec"

      config {
        command = "/usr/bin/redis-server"
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
  }
}
