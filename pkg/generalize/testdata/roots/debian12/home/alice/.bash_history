ssh tempsrv
