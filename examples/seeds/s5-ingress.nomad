# Scenario 5: an ingress proxy on every client node, bound to static ports 80 and 443,
# routing by the Host header to the healthy instances of services in the catalog.
job "ingress" {
  datacenters = ["*"]
  type        = "system"

  group "ingress" {
    network {
      mode = "host"
      port "http" {
        static = 80
      }
      port "https" {
        static = 443
      }
    }

    service {
      name     = "ingress"
      provider = "nomad"
      port     = "http"
      tags     = ["ingress"]

      check {
        type     = "tcp"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "haproxy" {
      driver = "docker"

      config {
        image        = "haproxy:2.8"
        network_mode = "host"
        volumes      = ["local/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg"]
      }

      template {
        destination   = "local/haproxy.cfg"
        change_mode   = "signal"
        change_signal = "SIGUSR2"
        data          = <<-EOH
          defaults
            mode http
            timeout connect 5s
            timeout client 30s
            timeout server 30s

          frontend http
            bind *:{{ env "NOMAD_PORT_http" }}
            use_backend app if { hdr(host) -i app.example.org }

          backend app
          {{- range nomadService "app" }}
            server {{ .ID }} {{ .Address }}:{{ .Port }} check
          {{- end }}
          EOH
      }

      resources {
        cpu    = 200
        memory = 128
      }
    }
  }
}
