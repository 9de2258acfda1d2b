passwd
