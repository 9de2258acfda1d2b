apt-get install -y cloud-init
shutdown -h now
