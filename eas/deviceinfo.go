package eas

import (
	"fmt"

	"github.com/easd/easd/devices"
	"github.com/easd/easd/wbxml"
)

// readDeviceInformation reads a settings:DeviceInformation element (MS-ASCMD 2.2.3.45) whose
// KindStart dec has just returned, through its End: <Set> with Model, IMEI, FriendlyName, OS,
// OSLanguage, PhoneNumber, UserAgent, EnableOutboundSMS and MobileOperator (MS-ASCMD
// 2.2.3.168.2, each optional, strings; EnableOutboundSMS is 0 or 1). The Settings command and
// Provision (14.1 and later, MS-ASPROV 2.2.2.52) both carry it. Unknown children of Set are
// skipped; a DeviceInformation without Set, or a Set that is not a container, is a
// *wbxml.SyntaxError (the dispatcher answers InvalidXML). An empty DeviceInformation reads as
// the zero Info.
func readDeviceInformation(dec *wbxml.Decoder) (devices.Info, error) {
	var info devices.Info
	sawSet := false
	for {
		tok, err := dec.Next()
		if err != nil {
			return info, err
		}
		if tok.Kind == wbxml.KindEnd {
			break
		}
		if tok.Kind != wbxml.KindStart {
			return info, &wbxml.SyntaxError{Offset: tok.Offset, Msg: "text in DeviceInformation", Err: wbxml.ErrContent}
		}
		if tok.Tag != wbxml.SettingsSet {
			if err := dec.Skip(); err != nil {
				return info, err
			}
			continue
		}
		sawSet = true
		if !tok.Content {
			continue
		}
		if err := readDeviceInformationSet(dec, &info); err != nil {
			return info, err
		}
	}
	if !sawSet {
		return info, &wbxml.SyntaxError{Msg: "DeviceInformation without Set", Err: wbxml.ErrContent}
	}
	return info, nil
}

// readDeviceInformationSet reads the children of <Set> through its End.
func readDeviceInformationSet(dec *wbxml.Decoder, info *devices.Info) error {
	for {
		tok, err := dec.Next()
		if err != nil {
			return err
		}
		if tok.Kind == wbxml.KindEnd {
			return nil
		}
		if tok.Kind != wbxml.KindStart {
			return &wbxml.SyntaxError{Offset: tok.Offset, Msg: "text in DeviceInformation Set", Err: wbxml.ErrContent}
		}
		var dst *string
		switch tok.Tag {
		case wbxml.SettingsModel:
			dst = &info.Model
		case wbxml.SettingsIMEI:
			dst = &info.IMEI
		case wbxml.SettingsFriendlyName:
			dst = &info.FriendlyName
		case wbxml.SettingsOS:
			dst = &info.OS
		case wbxml.SettingsOSLanguage:
			dst = &info.OSLanguage
		case wbxml.SettingsPhoneNumber:
			dst = &info.PhoneNumber
		case wbxml.SettingsMobileOperator:
			dst = &info.MobileOperator
		case wbxml.SettingsUserAgent:
			dst = &info.UserAgent
		case wbxml.SettingsEnableOutboundSMS:
			b, err := dec.Text()
			if err != nil {
				return err
			}
			switch string(b) {
			case "0", "":
				info.EnableOutboundSMS = false
			case "1":
				info.EnableOutboundSMS = true
			default:
				return &wbxml.SyntaxError{Offset: tok.Offset, Msg: fmt.Sprintf("EnableOutboundSMS %q", b), Err: wbxml.ErrContent}
			}
			continue
		default:
			if err := dec.Skip(); err != nil {
				return err
			}
			continue
		}
		s, err := dec.String()
		if err != nil {
			return err
		}
		*dst = s
	}
}
