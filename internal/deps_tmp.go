package internal

import (
	_ "github.com/beevik/etree"
	_ "github.com/emersion/go-message"
	_ "github.com/glebarez/sqlite"
	_ "github.com/golang-jwt/jwt/v5"
	_ "github.com/labstack/echo/v4"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/stretchr/testify/require"
	_ "golang.org/x/crypto/argon2"
	_ "gorm.io/driver/postgres"
	_ "gorm.io/gorm"
)
