# hpmon: heat-pump monitor firmware. Everything lives in firmware/app.py.
import firmware.app

firmware.app.main()
